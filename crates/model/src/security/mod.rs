//! security.istio.io kinds: mTLS modes (PeerAuthentication), access control
//! (AuthorizationPolicy) and end-user JWT authentication (RequestAuthentication).

pub mod authorization_policy;
pub mod peer_authentication;
pub mod request_authentication;
