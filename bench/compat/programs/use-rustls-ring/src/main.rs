//! rustls on ring: a client and a server in one program talking TLS over
//! loopback, with a certificate rcgen makes at start.
use rustls::crypto::ring::default_provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned,
};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

fn main() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(default_provider());

    let server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = thread::spawn(move || {
        let (socket, _) = listener.accept().expect("accept");
        let connection = ServerConnection::new(Arc::new(server_config)).expect("server connection");
        let mut tls = BufReader::new(StreamOwned::new(connection, socket));
        for _ in 0..3 {
            let mut line = String::new();
            tls.read_line(&mut line).expect("server read");
            let reply = format!("echo: {}", line.trim_end().to_uppercase());
            writeln!(tls.get_mut(), "{reply}").expect("server write");
        }
        tls.get_mut().conn.send_close_notify();
        tls.get_mut().flush().expect("close notify");
    });

    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("root");
    let client_config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    let connection =
        ClientConnection::new(Arc::new(client_config), name).expect("client connection");
    let socket = TcpStream::connect(address).expect("connect");
    let mut tls = BufReader::new(StreamOwned::new(connection, socket));
    for message in ["hello", "over tls", "bye"] {
        writeln!(tls.get_mut(), "{message}").expect("client write");
        let mut line = String::new();
        tls.read_line(&mut line).expect("client read");
        print!("{line}");
    }
    let session = &tls.get_ref().conn;
    println!("version {:?}", session.protocol_version());
    println!(
        "suite {:?}",
        session.negotiated_cipher_suite().map(|s| s.suite())
    );
    server.join().expect("server thread");

    let wrong = ServerName::try_from("example.org").expect("name");
    let strict = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certified.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der())),
        )
        .expect("server config");
    let server = thread::spawn(move || {
        let (socket, _) = listener.accept().expect("accept");
        let mut tls = StreamOwned::new(
            ServerConnection::new(Arc::new(config)).expect("server"),
            socket,
        );
        let mut line = String::new();
        let _ = BufReader::new(&mut tls).read_line(&mut line);
    });
    let socket = TcpStream::connect(address).expect("connect");
    let mut tls = StreamOwned::new(
        ClientConnection::new(Arc::new(strict), wrong).expect("client"),
        socket,
    );
    println!(
        "untrusted: {:?}",
        tls.write_all(b"x\n")
            .and_then(|_| tls.flush())
            .err()
            .map(|e| e.to_string())
    );
    drop(tls);
    server.join().expect("server thread");
}
