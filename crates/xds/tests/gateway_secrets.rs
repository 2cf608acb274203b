//! `credentialName` over SDS: Gateway servers (SIMPLE, MUTUAL) and DestinationRules reference
//! `kubernetes://NAME` / `kubernetes://NAME-cacert` over ADS, the snapshot carries exactly the
//! referenced secrets with the PEM inline, and a credential that cannot be served (missing,
//! another namespace, wrong keys, a key that does not match, a key Envoy refuses) takes only
//! its own server down. Certificates are made by `openssl` at test time; Envoy itself
//! (`--mode validate`) checks that our verdict on each key pair is its verdict, and that the
//! generated listeners and secrets load.

mod lds_rds_fixture;

use envoy_types::pb::envoy::config::bootstrap::v3::{Bootstrap, bootstrap::StaticResources};
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::{TransportSocket, config_source, transport_socket::ConfigType};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CommonTlsContext, DownstreamTlsContext, SdsSecretConfig, Secret, TlsCertificate, UpstreamTlsContext,
    common_tls_context::ValidationContextType, secret,
};
use lds_rds_fixture::{bookinfo, proxy, unpack};
use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use strait_config::{LoadOptions, LoadReport, load_text};
use strait_model::Resource;
use strait_registry::store::Credential;
use strait_registry::{NodeType, Proxy, Registry};
use strait_xds::scope::Scope;
use strait_xds::{clusters, listeners, secrets};

/// An ingress gateway router in istio-system, labelled `istio=ingressgateway`.
fn router() -> Proxy {
    let mut p = proxy("127.0.0.40", "istio-system");
    p.id.node_type = NodeType::Router;
    p.labels = BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]);
    p
}

/// Adds the Gateways, VirtualServices and DestinationRules of `text`.
fn add(reg: &mut Registry, text: &str) {
    let mut report = LoadReport::default();
    load_text("test.yaml", text, &LoadOptions::default(), &mut report);
    assert!(report.findings.iter().all(|f| f.severity != strait_model::Severity::Error), "{:?}", report.findings);
    for l in report.resources {
        match l.resource {
            Resource::VirtualService(o) => reg.config.virtual_services.push(o),
            Resource::Gateway(o) => reg.config.gateways.push(o),
            Resource::DestinationRule(o) => reg.config.destination_rules.push(o),
            _ => {}
        }
    }
}

/// Adds a Secret `ns/name` with the given keys.
fn secret(reg: &mut Registry, ns: &str, name: &str, data: &[(&str, &[u8])]) {
    let data = data.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
    reg.config.secrets.push(Credential { namespace: ns.into(), name: name.into(), data });
    reg.config.secrets.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
}

/// A self-signed certificate and key made by `openssl req` with `key_args` (e.g. `rsa:2048`).
fn make_cert(dir: &Path, tag: &str, cn: &str, key_args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let (cert, key) = (dir.join(format!("{tag}.crt")), dir.join(format!("{tag}.key")));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "1", "-subj", &format!("/CN={cn}")])
        .args(key_args)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    (std::fs::read(cert).expect("cert"), std::fs::read(key).expect("key"))
}

fn rsa(dir: &Path, tag: &str, cn: &str) -> (Vec<u8>, Vec<u8>) {
    make_cert(dir, tag, cn, &["-newkey", "rsa:2048"])
}

fn tls_of<M: Message + Default>(socket: Option<&TransportSocket>) -> M {
    match socket.and_then(|s| s.config_type.as_ref()) {
        Some(ConfigType::TypedConfig(a)) => unpack(a),
        None => panic!("no TLS transport socket"),
    }
}

/// (certificate SDS names, validation SDS name) of a context; every reference must be ADS v3.
fn sds_refs(common: &CommonTlsContext) -> (Vec<String>, Option<String>) {
    let ads = |s: &SdsSecretConfig| {
        let c = s.sds_config.as_ref().expect("sds_config");
        assert!(matches!(c.config_source_specifier, Some(config_source::ConfigSourceSpecifier::Ads(_))), "{s:?}");
        assert_eq!(c.resource_api_version, 2, "V3");
        s.name.clone()
    };
    let ca = match &common.validation_context_type {
        Some(ValidationContextType::CombinedValidationContext(c)) => c.validation_context_sds_secret_config.as_ref(),
        Some(ValidationContextType::ValidationContextSdsSecretConfig(s)) => Some(s),
        _ => None,
    };
    (common.tls_certificate_sds_secret_configs.iter().map(ads).collect(), ca.map(ads))
}

fn server_names(chain: &FilterChain) -> Vec<String> {
    chain.filter_chain_match.clone().unwrap_or_default().server_names
}

/// The names and types (`cert`/`ca`) of generated secrets.
fn summary(secrets: &[Secret]) -> Vec<(String, &'static str)> {
    let ty = |s: &Secret| match s.r#type {
        Some(secret::Type::TlsCertificate(_)) => "cert",
        Some(secret::Type::ValidationContext(_)) => "ca",
        _ => "other",
    };
    secrets.iter().map(|s| (s.name.clone(), ty(s))).collect()
}

fn generate(reg: &Registry, p: &Proxy) -> (Vec<Listener>, Vec<Cluster>, Vec<Secret>) {
    let scope = Scope::new(reg, p);
    let (ls, cs) = (listeners::build(&scope), clusters::build(&scope));
    let ss = secrets::build(&scope, &ls, &cs);
    (ls, cs, ss)
}

const GATEWAY: &str = r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: secure, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https-good, protocol: HTTPS}
    hosts: [good.example.com]
    tls: {mode: SIMPLE, credentialName: good}
  - port: {number: 8443, name: https-mtls, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL, credentialName: mtls, subjectAltNames: [client.example.com]}
  - port: {number: 8443, name: https-missing, protocol: HTTPS}
    hosts: [missing.example.com]
    tls: {mode: SIMPLE, credentialName: missing}
  - port: {number: 8443, name: https-elsewhere, protocol: HTTPS}
    hosts: [elsewhere.example.com]
    tls: {mode: SIMPLE, credentialName: elsewhere}
  - port: {number: 8443, name: https-mismatch, protocol: HTTPS}
    hosts: [mismatch.example.com]
    tls: {mode: SIMPLE, credentialName: mismatch}
  - port: {number: 8443, name: https-nokeys, protocol: HTTPS}
    hosts: [nokeys.example.com]
    tls: {mode: SIMPLE, credentialName: nokeys}
  - port: {number: 8443, name: https-noca, protocol: HTTPS}
    hosts: [noca.example.com]
    tls: {mode: MUTUAL, credentialName: good}
  - port: {number: 9443, name: tls, protocol: TLS}
    hosts: [db.example.com]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: all, namespace: default}
spec:
  hosts: ["*.example.com"]
  gateways: [secure]
  http: [{route: [{destination: {host: productpage, port: {number: 9080}}}]}]
  tls: [{match: [{sniHosts: [db.example.com]}], route: [{destination: {host: mongodb, port: {number: 27017}}}]}]
"#;

/// The gateway's secrets: good ones in the router's namespace, broken ones of every kind.
fn gateway_registry(dir: &Path) -> Registry {
    let mut reg = bookinfo();
    add(&mut reg, GATEWAY);
    let (good_crt, good_key) = rsa(dir, "good", "good.example.com");
    let (mtls_crt, mtls_key) = rsa(dir, "mtls", "mtls.example.com");
    let (other_crt, _) = rsa(dir, "other", "other.example.com");
    let ns = "istio-system";
    secret(&mut reg, ns, "good", &[("tls.crt", &good_crt), ("tls.key", &good_key)]);
    // Istio's generic keys, and the CA in a separate `-cacert` Secret (which wins over `mtls`'s own).
    secret(&mut reg, ns, "mtls", &[("cert", &mtls_crt), ("key", &mtls_key), ("cacert", b"not pem")]);
    secret(&mut reg, ns, "mtls-cacert", &[("ca.crt", &good_crt)]);
    secret(&mut reg, "default", "elsewhere", &[("tls.crt", &good_crt), ("tls.key", &good_key)]);
    secret(&mut reg, ns, "mismatch", &[("tls.crt", &other_crt), ("tls.key", &good_key)]);
    secret(&mut reg, ns, "nokeys", &[("certificate", &good_crt), ("tls.key", &good_key)]);
    reg
}

#[test]
fn credential_servers_use_sds_and_broken_credentials_drop_only_their_server() {
    let dir = strait_testkit::process::tempdir("gw-secrets");
    let reg = gateway_registry(&dir);
    let (ls, _, ss) = generate(&reg, &router());
    let names: Vec<_> = ls.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["127.0.0.40_8443", "127.0.0.40_9443"], "passthrough is untouched");

    let https = &ls[0];
    let sni: Vec<_> = https.filter_chains.iter().map(server_names).collect();
    assert_eq!(sni, [vec!["good.example.com".to_string()], vec!["mtls.example.com".to_string()]]);
    let simple: DownstreamTlsContext = tls_of(https.filter_chains[0].transport_socket.as_ref());
    let common = simple.common_tls_context.clone().expect("common");
    assert_eq!(sds_refs(&common), (vec!["kubernetes://good".to_string()], None));
    assert!(common.tls_certificates.is_empty());
    assert_eq!(common.alpn_protocols, ["h2", "http/1.1"]);
    assert_eq!(simple.require_client_certificate.map(|b| b.value), Some(false));

    let mutual: DownstreamTlsContext = tls_of(https.filter_chains[1].transport_socket.as_ref());
    assert_eq!(mutual.require_client_certificate.map(|b| b.value), Some(true));
    let common = mutual.common_tls_context.expect("common");
    let refs = sds_refs(&common);
    assert_eq!(refs, (vec!["kubernetes://mtls".to_string()], Some("kubernetes://mtls-cacert".to_string())));
    let Some(ValidationContextType::CombinedValidationContext(c)) = &common.validation_context_type else {
        panic!("combined validation")
    };
    let sans = format!("{:?}", c.default_validation_context);
    assert!(sans.contains("client.example.com"), "{sans}");

    // Exactly the referenced secrets, PEM inline; `mtls-cacert` comes from its own Secret.
    let want = [("kubernetes://good", "cert"), ("kubernetes://mtls", "cert"), ("kubernetes://mtls-cacert", "ca")];
    assert_eq!(summary(&ss), want.map(|(n, t)| (n.to_string(), t)));
    let Some(secret::Type::ValidationContext(ca)) = &ss[2].r#type else { panic!("ca") };
    let good_crt = std::fs::read(dir.join("good.crt")).expect("cert");
    let inline = ca.trusted_ca.as_ref().and_then(|d| d.specifier.clone());
    assert_eq!(inline, Some(envoy_types::pb::envoy::config::core::v3::data_source::Specifier::InlineBytes(good_crt)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ca_falls_back_to_the_credential_and_fixes_take_effect() {
    let dir = strait_testkit::process::tempdir("gw-secrets-ca");
    let mut reg = gateway_registry(&dir);
    // `noca` (MUTUAL on `good`, which has no CA) becomes servable once `good` carries `ca.crt`.
    let good = reg.config.secrets.iter_mut().find(|s| s.name == "good").expect("good");
    let crt = good.data["tls.crt"].clone();
    good.data.insert("ca.crt".into(), crt);
    // And the broken ones get fixed: the right key, the right keys, the right namespace.
    let (other_crt, other_key) =
        (std::fs::read(dir.join("other.crt")).expect("c"), std::fs::read(dir.join("other.key")).expect("k"));
    secret(&mut reg, "istio-system", "elsewhere", &[("tls.crt", &other_crt), ("tls.key", &other_key)]);
    let fixed = reg.config.secrets.iter_mut().find(|s| s.name == "mismatch").expect("mismatch");
    fixed.data.insert("tls.key".into(), other_key.clone());
    let (ls, _, ss) = generate(&reg, &router());
    let sni: Vec<_> = ls[0].filter_chains.iter().flat_map(server_names).collect();
    assert_eq!(
        sni,
        ["good.example.com", "mtls.example.com", "elsewhere.example.com", "mismatch.example.com", "noca.example.com"]
    );
    let noca: DownstreamTlsContext = tls_of(ls[0].filter_chains[4].transport_socket.as_ref());
    let refs = sds_refs(&noca.common_tls_context.expect("common"));
    assert_eq!(refs, (vec!["kubernetes://good".to_string()], Some("kubernetes://good-cacert".to_string())));
    let names: Vec<_> = summary(&ss).into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"kubernetes://good-cacert".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("missing") || n.contains("nokeys")), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

const DESTINATION_RULES: &str = r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client, sni: reviews.example.com}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: default}
spec:
  host: ratings
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: "configmap://default/ratings-ca"}}
"#;

fn upstream(cs: &[Cluster], name: &str) -> Option<UpstreamTlsContext> {
    let c = cs.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no cluster {name}"));
    c.transport_socket.as_ref().map(|s| tls_of(Some(s)))
}

#[test]
fn destination_rule_credentials_follow_istio() {
    let dir = strait_testkit::process::tempdir("dr-secrets");
    let mut reg = bookinfo();
    add(&mut reg, DESTINATION_RULES);
    let (crt, key) = rsa(&dir, "client", "client.example.com");
    for ns in ["istio-system", "default"] {
        secret(&mut reg, ns, "client", &[("tls.crt", &crt), ("tls.key", &key), ("ca.crt", &crt)]);
    }
    let ca = strait_registry::store::Credential {
        namespace: "default".into(),
        name: "ratings-ca".into(),
        data: BTreeMap::from([("ca.crt".to_string(), crt.clone())]),
    };
    reg.config.config_maps.push(ca);
    let (reviews, ratings) =
        ("outbound|9080||reviews.default.svc.cluster.local", "outbound|9080||ratings.default.svc.cluster.local");

    // A router: client certificate and CA over SDS, from the router's own namespace.
    let (_, cs, ss) = generate(&reg, &router());
    let ctx = upstream(&cs, reviews).expect("TLS");
    assert_eq!(ctx.sni, "reviews.example.com");
    let refs = sds_refs(&ctx.common_tls_context.expect("common"));
    assert_eq!(refs, (vec!["kubernetes://client".to_string()], Some("kubernetes://client-cacert".to_string())));
    let ctx = upstream(&cs, ratings).expect("TLS");
    assert_eq!(
        sds_refs(&ctx.common_tls_context.expect("c")).1.as_deref(),
        Some("configmap://default/ratings-ca-cacert")
    );
    let want = ["configmap://default/ratings-ca-cacert", "kubernetes://client", "kubernetes://client-cacert"];
    assert_eq!(summary(&ss).into_iter().map(|(n, _)| n).collect::<Vec<_>>(), want);

    // A sidecar: a Secret credential from a rule without workloadSelector gives no TLS at all
    // (Istio); a ConfigMap CA is public, so it still applies.
    let sidecar = proxy("127.0.0.10", "default");
    let (_, cs, ss) = generate(&reg, &sidecar);
    assert!(upstream(&cs, reviews).is_none());
    assert!(upstream(&cs, ratings).is_some());
    assert_eq!(summary(&ss).into_iter().map(|(n, _)| n).collect::<Vec<_>>(), [want[0]]);

    // With a workloadSelector that picks the sidecar, the Secret credential applies.
    add(
        &mut reg,
        &DESTINATION_RULES.replace(
            "spec:\n  host: reviews",
            "spec:\n  workloadSelector: {matchLabels: {app: productpage}}\n  host: reviews",
        ),
    );
    reg.config.destination_rules.remove(0);
    let (_, cs, _) = generate(&reg, &sidecar);
    let ctx = upstream(&cs, reviews).expect("TLS for the selected sidecar");
    assert_eq!(sds_refs(&ctx.common_tls_context.expect("c")).0, ["kubernetes://client"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Envoy's verdict on a certificate and key loaded as a static SDS secret.
fn envoy_accepts(envoy: &str, dir: &Path, crt: &[u8], key: &[u8]) -> Result<(), String> {
    let inline = |b: &[u8]| {
        Some(envoy_types::pb::envoy::config::core::v3::DataSource {
            specifier: Some(envoy_types::pb::envoy::config::core::v3::data_source::Specifier::InlineBytes(b.to_vec())),
            ..Default::default()
        })
    };
    let s = Secret {
        name: "s".into(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: inline(crt),
            private_key: inline(key),
            ..Default::default()
        })),
    };
    let ctx = DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_certificate_sds_secret_configs: vec![SdsSecretConfig { name: "s".into(), sds_config: None }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let listener = listener_with(ctx);
    validate(envoy, dir, vec![listener], vec![s])
}

fn listener_with(ctx: DownstreamTlsContext) -> Listener {
    let tcp = envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy {
        stat_prefix: "t".into(),
        cluster_specifier: Some(
            envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::tcp_proxy::ClusterSpecifier::Cluster(
                "c".into(),
            ),
        ),
        ..Default::default()
    };
    let filter = envoy_types::pb::envoy::config::listener::v3::Filter {
        name: "envoy.filters.network.tcp_proxy".into(),
        config_type: Some(envoy_types::pb::envoy::config::listener::v3::filter::ConfigType::TypedConfig(
            strait_xds::any::pack(&tcp),
        )),
    };
    use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address, socket_address};
    let socket = SocketAddress {
        address: "127.0.0.1".into(),
        port_specifier: Some(socket_address::PortSpecifier::PortValue(19443)),
        ..Default::default()
    };
    let mut l = Listener {
        name: "l".into(),
        address: Some(Address { address: Some(address::Address::SocketAddress(socket)) }),
        ..Default::default()
    };
    l.filter_chains = vec![FilterChain {
        filters: vec![filter],
        transport_socket: Some(TransportSocket {
            name: "envoy.transport_sockets.tls".into(),
            config_type: Some(ConfigType::TypedConfig(strait_xds::any::pack(&ctx))),
        }),
        ..Default::default()
    }];
    l
}

fn validate(envoy: &str, dir: &Path, listeners: Vec<Listener>, secrets: Vec<Secret>) -> Result<(), String> {
    let cluster = Cluster { name: "c".into(), ..Default::default() };
    let bootstrap = Bootstrap {
        static_resources: Some(StaticResources { listeners, secrets, clusters: vec![cluster] }),
        ..Default::default()
    };
    let file = dir.join("bootstrap.pb");
    std::fs::write(&file, bootstrap.encode_to_vec()).expect("write bootstrap");
    strait_testkit::process::envoy_validate(envoy, &file, dir)
}

#[test]
fn our_verdict_on_key_pairs_is_envoys() {
    let Some(envoy) = strait_testkit::process::envoy() else { return };
    let dir = strait_testkit::process::tempdir("secret-verdicts");
    let pairs = [
        ("rsa2048", vec!["-newkey", "rsa:2048"]),
        ("rsa1024", vec!["-newkey", "rsa:1024"]),
        ("p256", vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        ("p384", vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
        ("k256", vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"]),
        ("ed25519", vec!["-newkey", "ed25519"]),
    ];
    let made: Vec<(&str, Vec<u8>, Vec<u8>)> = pairs
        .iter()
        .map(|(tag, args)| {
            let (c, k) = make_cert(&dir, tag, tag, args);
            (*tag, c, k)
        })
        .collect();
    let mut cases: Vec<(String, &[u8], &[u8])> = made.iter().map(|(t, c, k)| (t.to_string(), &c[..], &k[..])).collect();
    cases.push(("rsa-mismatch".into(), &made[0].1, &made[1].2));
    cases.push(("ec-mismatch".into(), &made[2].1, &made[3].2));
    cases.push(("key-as-cert".into(), &made[0].2, &made[0].2));
    let mut disagreements = Vec::new();
    let mut accepted = 0;
    for (tag, crt, key) in &cases {
        let ours = secrets::x509::check_pair(crt, key).map(|_| ());
        let theirs = envoy_accepts(&envoy, &dir, crt, key);
        accepted += usize::from(theirs.is_ok());
        if ours.is_ok() != theirs.is_ok() {
            disagreements.push(format!(
                "{tag}: ours {ours:?}, envoy {:?}",
                theirs.map_err(|e| e.lines().last().map(str::to_string))
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert!(accepted >= 3 && accepted < cases.len(), "the table must hold both verdicts");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn envoy_loads_generated_sds_listeners_and_secrets() {
    let Some(envoy) = strait_testkit::process::envoy() else { return };
    let dir = strait_testkit::process::tempdir("gw-secrets-validate");
    let reg = gateway_registry(&dir);
    let (ls, _, ss) = generate(&reg, &router());
    // Static bootstrap: the same secrets as static resources, referenced by name only.
    let statics: Vec<Listener> = ls
        .into_iter()
        .filter(|l| l.name.ends_with("_8443"))
        .map(|mut l| {
            for chain in &mut l.filter_chains {
                let mut ctx: DownstreamTlsContext = tls_of(chain.transport_socket.as_ref());
                let common = ctx.common_tls_context.as_mut().expect("common");
                common.tls_certificate_sds_secret_configs.iter_mut().for_each(|s| s.sds_config = None);
                if let Some(ValidationContextType::CombinedValidationContext(c)) = &mut common.validation_context_type {
                    c.validation_context_sds_secret_config.iter_mut().for_each(|s| s.sds_config = None);
                }
                chain.filters.clear();
                chain.filters = listener_with(ctx.clone()).filter_chains.remove(0).filters;
                chain.transport_socket = listener_with(ctx).filter_chains.remove(0).transport_socket;
            }
            l
        })
        .collect();
    assert_eq!(statics.len(), 1);
    let result = validate(&envoy, &dir, statics, ss);
    assert!(result.is_ok(), "envoy rejected generated SDS config:\n{}", result.unwrap_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn snapshot_debug_names_secrets_without_key_material() {
    let dir = strait_testkit::process::tempdir("gw-secrets-debug");
    let reg = gateway_registry(&dir);
    let snap = strait_xds::generate(&reg, &router());
    assert_eq!(snap.secrets.len(), 3);
    let shown = format!("{snap:?} {:?}", reg.config);
    assert!(shown.contains("kubernetes://good"), "secret names are shown");
    assert!(!shown.contains("PRIVATE KEY") && !shown.contains("BEGIN"), "key material leaked into Debug");
    let _ = std::fs::remove_dir_all(&dir);
}
