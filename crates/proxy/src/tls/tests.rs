//! Unit tests: `DownstreamTlsContext` conversion (what compiles, and the NACK reason for what
//! does not), and real handshakes over an in-memory pipe with rustls clients: the served
//! certificate and ALPN, SNI-based certificate choice, SDS secrets (missing, then rotated,
//! with the built config reused while nothing changes), and client certificate checks.

use super::*;
use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ConfigSource, DataSource, TransportSocket, config_source::ConfigSourceSpecifier,
    data_source::Specifier, transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig, Secret as EnvoySecret,
    SubjectAltNameMatcher, TlsCertificate, TlsParameters, common_tls_context::ValidationContextType,
    secret as envoy_secret, subject_alt_name_matcher::SanType, tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::{Any, BoolValue};
use prost::{Message, Name};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject;

/// A test CA.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca") }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf `(cert PEM, key PEM)` with common name `cn` and DNS SAN `dns`.
    fn leaf(&self, cn: &str, dns: &str) -> (String, String) {
        let mut params = CertificateParams::new(vec![dns.to_string()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }
}

fn inline(s: &str) -> Option<DataSource> {
    Some(DataSource { specifier: Some(Specifier::InlineString(s.into())), ..Default::default() })
}

fn certificate((cert, key): &(String, String)) -> TlsCertificate {
    TlsCertificate { certificate_chain: inline(cert), private_key: inline(key), ..Default::default() }
}

fn sds(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.into(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
            resource_api_version: 2,
            ..Default::default()
        }),
    }
}

fn socket(ctx: &DownstreamTlsContext) -> TransportSocket {
    let any = Any { type_url: DownstreamTlsContext::type_url(), value: ctx.encode_to_vec() };
    TransportSocket { name: TLS_SOCKET.into(), config_type: Some(transport_socket::ConfigType::TypedConfig(any)) }
}

fn context(common: CommonTlsContext) -> DownstreamTlsContext {
    DownstreamTlsContext { common_tls_context: Some(common), ..Default::default() }
}

fn compile(ctx: &DownstreamTlsContext) -> Result<ServerTls, String> {
    ServerTls::try_from(&socket(ctx)).map_err(|e| e.to_string())
}

fn nack(ctx: &DownstreamTlsContext) -> String {
    compile(ctx).expect_err("must be refused")
}

fn cert_secret(pair: &(String, String)) -> Arc<Secret> {
    let s = EnvoySecret { name: "x".into(), r#type: Some(envoy_secret::Type::TlsCertificate(certificate(pair))) };
    Arc::new(Secret::try_from(&s).expect("secret compiles"))
}

fn ca_secret(ca: &Ca) -> Arc<Secret> {
    let v = CertificateValidationContext { trusted_ca: inline(&ca.pem()), ..Default::default() };
    let s = EnvoySecret { name: "x".into(), r#type: Some(envoy_secret::Type::ValidationContext(v)) };
    Arc::new(Secret::try_from(&s).expect("secret compiles"))
}

/// A client trusting `ca`, offering h2 and http/1.1, with an optional client certificate.
fn client(ca: &Ca, cert: Option<&(String, String)>) -> ClientConfig {
    let builder = ClientConfig::builder_with_provider(Arc::new(secret::provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots(ca));
    let mut config = match cert {
        None => builder.with_no_client_auth(),
        Some((c, k)) => {
            let chain = vec![rustls_pki_types::CertificateDer::from_pem_slice(c.as_bytes()).expect("cert")];
            let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(k.as_bytes()).expect("key");
            builder.with_client_auth_cert(chain, key).expect("client cert")
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// What one handshake showed: the server side's outcome, the served certificate's subject and
/// the SNI and ALPN the server saw.
async fn handshake(tls: &ServerTls, secrets: &Secrets, client: ClientConfig, sni: &str) -> Result<String, String> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let name = ServerName::try_from(sni.to_string()).expect("name");
    let client = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut stream = connector.connect(name, client_io).await.map_err(|e| e.to_string())?;
        let (_, conn) = stream.get_ref();
        let leaf = conn.peer_certificates().and_then(|c| c.first().cloned()).ok_or("no certificate")?;
        let (_, cert) = x509_parser::parse_x509_certificate(&leaf).map_err(|e| e.to_string())?;
        let subject = cert.subject().to_string();
        // TLS 1.3 clients learn of a refused client certificate only on their first read.
        let mut buf = [0u8; 1];
        match stream.read(&mut buf).await {
            Err(e) => Err(e.to_string()),
            Ok(_) => Ok(subject),
        }
    });
    let accepted = tls.accept(secrets, server_io).await.map_err(|e| format!("server: {e}"))?;
    let seen = format!(
        "sni={} alpn={}",
        accepted.sni.as_deref().unwrap_or("-"),
        accepted.alpn.as_deref().map_or("-".into(), |a| String::from_utf8_lossy(a).into_owned())
    );
    let mut stream = accepted.stream;
    use tokio::io::AsyncWriteExt;
    let _ = stream.write_all(b"x").await;
    let _ = stream.shutdown().await;
    let subject = client.await.map_err(|e| e.to_string())??;
    Ok(format!("{subject} {seen}"))
}

#[test]
fn refusals_name_the_field() {
    let ca = Ca::new("ca");
    let good = certificate(&ca.leaf("a", "a.example.com"));
    let common = |extra: CommonTlsContext| CommonTlsContext { tls_certificates: vec![good.clone()], ..extra };
    let missing_file = TlsCertificate {
        certificate_chain: Some(DataSource {
            specifier: Some(Specifier::Filename("/nonexistent/cert.pem".into())),
            ..Default::default()
        }),
        ..good.clone()
    };
    let other = ca.leaf("b", "b.example.com");
    let mismatched = TlsCertificate { private_key: inline(&other.1), ..good.clone() };
    let not_ads = SdsSecretConfig { sds_config: Some(ConfigSource::default()), ..sds("kubernetes://a") };
    let old_tls = TlsParameters { tls_minimum_protocol_version: TlsProtocol::TlSv10 as i32, ..Default::default() };
    let expired_ok = CertificateValidationContext {
        trusted_ca: inline(&ca.pem()),
        allow_expired_certificate: true,
        ..Default::default()
    };
    let other_name = SubjectAltNameMatcher {
        san_type: SanType::OtherName as i32,
        matcher: Some(StringMatcher { match_pattern: Some(MatchPattern::Exact("x".into())), ..Default::default() }),
        ..Default::default()
    };
    let san_other = CertificateValidationContext {
        trusted_ca: inline(&ca.pem()),
        match_typed_subject_alt_names: vec![other_name],
        ..Default::default()
    };
    let mut cases: Vec<(DownstreamTlsContext, &str)> = vec![
        (context(CommonTlsContext::default()), "typed_config.common_tls_context.tls_certificates: a server needs"),
        (
            context(CommonTlsContext { tls_certificates: vec![missing_file], ..Default::default() }),
            "typed_config.common_tls_context.tls_certificates[0].certificate_chain.filename: cannot read \"/nonexistent",
        ),
        (
            context(CommonTlsContext { tls_certificates: vec![mismatched], ..Default::default() }),
            "tls_certificates[0].private_key: does not match the certificate",
        ),
        (
            context(CommonTlsContext { tls_certificate_sds_secret_configs: vec![not_ads], ..Default::default() }),
            "tls_certificate_sds_secret_configs[0].sds_config: only ADS is supported",
        ),
        (
            DownstreamTlsContext {
                require_client_certificate: Some(BoolValue { value: true }),
                ..context(common(CommonTlsContext::default()))
            },
            "typed_config.require_client_certificate: needs a validation context",
        ),
        (
            context(common(CommonTlsContext { tls_params: Some(old_tls), ..Default::default() })),
            "common_tls_context.tls_params.tls_minimum_protocol_version: only TLSv1_2 and TLSv1_3",
        ),
        (
            context(common(CommonTlsContext {
                validation_context_type: Some(ValidationContextType::ValidationContext(expired_ok)),
                ..Default::default()
            })),
            "common_tls_context.validation_context.#8: field number 8 of \
             envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext is not supported",
        ),
        (
            context(common(CommonTlsContext {
                validation_context_type: Some(ValidationContextType::ValidationContext(san_other)),
                ..Default::default()
            })),
            "validation_context.match_typed_subject_alt_names[0].san_type: not supported",
        ),
        (
            DownstreamTlsContext { ocsp_staple_policy: 2, ..context(common(CommonTlsContext::default())) },
            "typed_config.ocsp_staple_policy: not supported",
        ),
    ];
    let cbc_only = TlsParameters { cipher_suites: vec!["ECDHE-RSA-AES128-SHA".into()], ..Default::default() };
    let p521 = TlsParameters { ecdh_curves: vec!["P-521".into()], ..Default::default() };
    let params = |p: TlsParameters| context(common(CommonTlsContext { tls_params: Some(p), ..Default::default() }));
    cases.push((params(cbc_only), "tls_params.cipher_suites: none of these TLS 1.2 suites is supported"));
    cases.push((params(p521), "tls_params.ecdh_curves[0]: P-521 is not supported by the Strait proxy"));
    for (ctx, want) in cases {
        let got = nack(&ctx);
        assert!(got.contains(want), "want {want:?} in {got:?}");
    }
    let bad_socket = TransportSocket { name: "envoy.transport_sockets.raw_buffer".into(), config_type: None };
    let e = ServerTls::try_from(&bad_socket).expect_err("not TLS").to_string();
    assert_eq!(e, "name: transport socket envoy.transport_sockets.raw_buffer is not supported");
}

#[test]
fn secrets_compile_and_refuse_what_they_cannot_serve() {
    let ca = Ca::new("ca");
    let Secret::Certificate(c) = cert_secret(&ca.leaf("gw", "gw.example.com")).as_ref().clone() else {
        panic!("a certificate secret")
    };
    assert_eq!(c.names, ["gw.example.com"]);
    assert!(c.subject.contains("CN=gw"), "{}", c.subject);
    assert!(!format!("{c:?}").contains("PRIVATE"), "Debug shows no key material");
    let with_san = CertificateValidationContext {
        trusted_ca: inline(&ca.pem()),
        verify_certificate_hash: vec!["00".repeat(32)],
        ..Default::default()
    };
    let s = EnvoySecret { name: "x".into(), r#type: Some(envoy_secret::Type::ValidationContext(with_san)) };
    let e = Secret::try_from(&s).expect_err("checks belong in the listener").to_string();
    assert!(e.starts_with("validation_context.#"), "{e}");
    let empty = EnvoySecret { name: "x".into(), r#type: None };
    assert_eq!(
        Secret::try_from(&empty).expect_err("empty").to_string(),
        "type: a secret needs a tls_certificate or a validation_context"
    );
}

#[tokio::test]
async fn simple_inline_serves_the_certificate_with_alpn() {
    let ca = Ca::new("ca");
    let mut common = CommonTlsContext {
        tls_certificates: vec![certificate(&ca.leaf("bookinfo", "bookinfo.example.com"))],
        ..Default::default()
    };
    common.alpn_protocols = vec!["h2".into(), "http/1.1".into()];
    let tls = compile(&context(common)).expect("compiles");
    assert_eq!(tls.secret_names().count(), 0);
    let got = handshake(&tls, &Secrets::new(), client(&ca, None), "bookinfo.example.com").await;
    assert_eq!(got.as_deref(), Ok("CN=bookinfo sni=bookinfo.example.com alpn=h2"));
}

#[tokio::test]
async fn tls_parameters_bound_the_versions() {
    let ca = Ca::new("ca");
    let tls13 = TlsParameters { tls_minimum_protocol_version: TlsProtocol::TlSv13 as i32, ..Default::default() };
    let common = CommonTlsContext {
        tls_certificates: vec![certificate(&ca.leaf("p", "p.example.com"))],
        tls_params: Some(tls13),
        ..Default::default()
    };
    let tls = compile(&context(common)).expect("compiles");
    let mut old = client(&ca, None);
    let got = handshake(&tls, &Secrets::new(), old.clone(), "p.example.com").await;
    assert_eq!(got.as_deref(), Ok("CN=p sni=p.example.com alpn=-"));
    let v12 = ClientConfig::builder_with_provider(Arc::new(secret::provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("versions");
    old = v12.with_root_certificates(roots(&ca)).with_no_client_auth();
    let e = handshake(&tls, &Secrets::new(), old, "p.example.com").await.expect_err("TLS 1.2 refused");
    assert!(e.starts_with("server: "), "{e}");
}

/// A root store trusting `ca`.
fn roots(ca: &Ca) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls_pki_types::CertificateDer::from_pem_slice(ca.pem().as_bytes()).expect("pem")).expect("root");
    roots
}

#[tokio::test]
async fn the_certificate_is_chosen_by_sni() {
    let ca = Ca::new("ca");
    let common = CommonTlsContext {
        tls_certificates: vec![
            certificate(&ca.leaf("first", "a.example.com")),
            certificate(&ca.leaf("wild", "*.b.example.com")),
        ],
        ..Default::default()
    };
    let tls = compile(&context(common)).expect("compiles");
    let got = handshake(&tls, &Secrets::new(), client(&ca, None), "x.b.example.com").await;
    assert_eq!(got.as_deref(), Ok("CN=wild sni=x.b.example.com alpn=-"));
    let got = handshake(&tls, &Secrets::new(), client(&ca, None), "a.example.com").await;
    assert_eq!(got.as_deref(), Ok("CN=first sni=a.example.com alpn=-"));
}

#[tokio::test]
async fn sds_secrets_missing_then_rotated() {
    let ca = Ca::new("ca");
    let common =
        CommonTlsContext { tls_certificate_sds_secret_configs: vec![sds("kubernetes://cred")], ..Default::default() };
    let tls = compile(&context(common)).expect("compiles");
    assert_eq!(tls.secret_names().collect::<Vec<_>>(), ["kubernetes://cred"]);
    let mut secrets = Secrets::new();
    let e = handshake(&tls, &secrets, client(&ca, None), "s.example.com").await.expect_err("no secret yet");
    assert_eq!(e, "server: secret kubernetes://cred has not arrived");
    secrets.insert("kubernetes://cred".into(), cert_secret(&ca.leaf("v1", "s.example.com")));
    let got = handshake(&tls, &secrets, client(&ca, None), "s.example.com").await;
    assert_eq!(got.as_deref(), Ok("CN=v1 sni=s.example.com alpn=-"));
    let first = tls.server_config(&secrets).expect("built");
    assert!(Arc::ptr_eq(&first, &tls.server_config(&secrets).expect("cached")), "unchanged secrets reuse the config");
    secrets.insert("kubernetes://cred".into(), cert_secret(&ca.leaf("v2", "s.example.com")));
    let got = handshake(&tls, &secrets, client(&ca, None), "s.example.com").await;
    assert_eq!(got.as_deref(), Ok("CN=v2 sni=s.example.com alpn=-"));
    secrets.insert("kubernetes://cred".into(), ca_secret(&ca));
    let e = handshake(&tls, &secrets, client(&ca, None), "s.example.com").await.expect_err("wrong type");
    assert_eq!(e, "server: secret kubernetes://cred is not a certificate");
}

#[tokio::test]
async fn mutual_tls_checks_client_certificates() {
    let (ca, rogue) = (Ca::new("ca"), Ca::new("rogue"));
    let san = SubjectAltNameMatcher {
        san_type: SanType::Dns as i32,
        matcher: Some(StringMatcher {
            match_pattern: Some(MatchPattern::Suffix(".good.test".into())),
            ..Default::default()
        }),
        ..Default::default()
    };
    let default = CertificateValidationContext { match_typed_subject_alt_names: vec![san], ..Default::default() };
    let combined = envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::common_tls_context::CombinedCertificateValidationContext {
        default_validation_context: Some(default),
        validation_context_sds_secret_config: Some(sds("kubernetes://cred-cacert")),
        ..Default::default()
    };
    let common = CommonTlsContext {
        tls_certificate_sds_secret_configs: vec![sds("kubernetes://cred")],
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(combined)),
        ..Default::default()
    };
    let ctx = DownstreamTlsContext { require_client_certificate: Some(BoolValue { value: true }), ..context(common) };
    let tls = compile(&ctx).expect("compiles");
    assert_eq!(tls.secret_names().collect::<Vec<_>>(), ["kubernetes://cred", "kubernetes://cred-cacert"]);
    let secrets = Secrets::from([
        ("kubernetes://cred".to_string(), cert_secret(&ca.leaf("mutual", "m.example.com"))),
        ("kubernetes://cred-cacert".to_string(), ca_secret(&ca)),
    ]);
    let good = ca.leaf("client", "app.good.test");
    let got = handshake(&tls, &secrets, client(&ca, Some(&good)), "m.example.com").await;
    assert_eq!(got.as_deref(), Ok("CN=mutual sni=m.example.com alpn=-"));
    for (what, cert) in [
        ("no client certificate", None),
        ("a certificate from another CA", Some(rogue.leaf("rogue", "app.good.test"))),
        ("a SAN the matcher refuses", Some(ca.leaf("client", "app.bad.test"))),
    ] {
        let e = handshake(&tls, &secrets, client(&ca, cert.as_ref()), "m.example.com").await.expect_err(what);
        assert!(e.starts_with("server: "), "{what}: {e}");
    }
}
