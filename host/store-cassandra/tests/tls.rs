//! TLS settings: the backend connects through a TLS endpoint (a TLS-terminating proxy in front
//! of the CQL test server, with a certificate made here) when it trusts the endpoint's
//! authority, and refuses to when it does not.

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509, X509NameBuilder};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use vessel_store::Storage;
use vessel_store_cassandra::{CassandraConfig, CassandraStorage, TlsOptions};

/// A self-signed certificate for 127.0.0.1 and its key.
fn self_signed(cn: &str) -> (X509, PKey<Private>) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

/// Accepts TLS connections and forwards their plain bytes to `backend`.
async fn tls_proxy(cert: &X509, key: &PKey<Private>, backend: SocketAddr) -> SocketAddr {
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    acceptor.set_certificate(cert).unwrap();
    acceptor.set_private_key(key).unwrap();
    let acceptor = Arc::new(acceptor.build());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let ssl = Ssl::new(acceptor.context()).unwrap();
                let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
                if Pin::new(&mut tls).accept().await.is_err() {
                    return;
                }
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

fn write_pem(path: &Path, cert: &X509) {
    std::fs::write(path, cert.to_pem().unwrap()).unwrap();
}

fn config(addr: SocketAddr, ca: &Path) -> CassandraConfig {
    let mut cfg = CassandraConfig::new(vec![addr.to_string()]);
    cfg.connect_timeout = Duration::from_secs(3);
    cfg.tls = Some(TlsOptions {
        ca: Some(ca.to_path_buf()),
        cert: None,
        key: None,
        verify: true,
    });
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connects_when_the_authority_is_trusted_and_refuses_otherwise() {
    let server = vessel_cql_testserver::TestServer::start().await.unwrap();
    let (cert, key) = self_signed("cql-test");
    let proxy = tls_proxy(&cert, &key, server.addr()).await;
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("ca.pem");
    write_pem(&trusted, &cert);

    let storage = CassandraStorage::connect(config(proxy, &trusted))
        .await
        .expect("connects through TLS with the endpoint's authority trusted");
    storage.open_keyspace("tls_ks", true).await.unwrap();
    assert_eq!(storage.list_keyspaces().await.unwrap(), vec!["tls_ks"]);

    // Another authority: the endpoint's certificate does not verify.
    let (other, _) = self_signed("someone-else");
    let untrusted = dir.path().join("other.pem");
    write_pem(&untrusted, &other);
    let err = CassandraStorage::connect(config(proxy, &untrusted))
        .await
        .err()
        .expect("an untrusted certificate is refused");
    assert!(err.to_string().contains("cannot connect"), "{err}");

    // Plain connections to the TLS endpoint fail too: TLS is not optional there.
    let mut plain = config(proxy, &trusted);
    plain.tls = None;
    assert!(CassandraStorage::connect(plain).await.is_err());

    // A missing authority file is named.
    let err = CassandraStorage::connect(config(proxy, &dir.path().join("missing.pem")))
        .await
        .err()
        .expect("a missing file is an error");
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
