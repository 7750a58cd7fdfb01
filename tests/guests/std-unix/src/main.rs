//! Unix-domain stream sockets within one program: a named listener, a
//! connection talking both ways (more than a pipe holds, so flow control
//! matters), the errors of binding and connecting, and tokio's listener
//! and streams. Prints what each call answers, for comparison with Linux.

use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An error as its kind and number.
fn describe(error: std::io::Error) -> String {
    format!("{:?} ({})", error.kind(), error.raw_os_error().unwrap_or(0))
}

/// What connecting to `path` answers.
fn connect(path: &Path) -> String {
    match UnixStream::connect(path) {
        Ok(_) => "connected".to_owned(),
        Err(e) => describe(e),
    }
}

/// Ten tokio clients at once, each echoed by its own server task.
async fn tokio_echoes(path: &Path) -> usize {
    let listener = tokio::net::UnixListener::bind(path).expect("tokio bind");
    let server = tokio::spawn(async move {
        for _ in 0..10 {
            let (mut stream, _) = listener.accept().await.expect("tokio accept");
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let n = stream.read(&mut buf).await.expect("server read");
                stream.write_all(&buf[..n]).await.expect("server write");
            });
        }
    });
    let clients: Vec<_> = (0..10)
        .map(|i| {
            let path = path.to_owned();
            tokio::spawn(async move {
                let mut stream = tokio::net::UnixStream::connect(&path)
                    .await
                    .expect("tokio connect");
                let message = format!("hello {i}");
                stream.write_all(message.as_bytes()).await.expect("write");
                let mut buf = [0u8; 64];
                let n = stream.read(&mut buf).await.expect("read");
                buf[..n] == *message.as_bytes()
            })
        })
        .collect();
    let mut echoed = 0;
    for client in clients {
        echoed += usize::from(client.await.expect("client task"));
    }
    server.await.expect("server task");
    echoed
}

fn main() {
    let dir = std::env::temp_dir().join(format!("std-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path = dir.join("server.sock");

    let listener = UnixListener::bind(&path).expect("bind");
    let kind = std::fs::symlink_metadata(&path).expect("stat the name");
    println!("bound: a socket file: {}", kind.file_type().is_socket());
    let local = listener.local_addr().expect("local_addr");
    println!("its name: {}", local.as_pathname() == Some(path.as_path()));
    let again = UnixListener::bind(&path).map(|_| ()).map_err(describe);
    println!("bind again: {}", again.expect_err("the name is taken"));

    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut asked = [0u8; 5];
        stream.read_exact(&mut asked).expect("server read");
        stream.write_all(b"pong").expect("server write");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).expect("read to the end");
        (asked, rest, listener)
    });
    let mut client = UnixStream::connect(&path).expect("connect");
    client.write_all(b"ping!").expect("client write");
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).expect("client read");
    client
        .write_all(&vec![7u8; 300_000])
        .expect("a large write");
    drop(client);
    let (asked, rest, listener) = server.join().expect("the server thread");
    println!(
        "server read {:?}, client read {:?}, then {} bytes of 7 and end of file",
        String::from_utf8_lossy(&asked),
        String::from_utf8_lossy(&reply),
        rest.iter().filter(|&&b| b == 7).count()
    );

    listener.set_nonblocking(true).expect("non-blocking");
    let none = listener.accept().map(|_| ()).map_err(describe);
    println!(
        "accept with none waiting: {}",
        none.expect_err("nothing waits")
    );
    println!(
        "connect to a missing name: {}",
        connect(&dir.join("missing"))
    );
    let plain = dir.join("plain");
    std::fs::write(&plain, b"x").expect("a regular file");
    println!("connect to a regular file: {}", connect(&plain));
    drop(listener);
    println!("connect once the listener is closed: {}", connect(&path));
    std::fs::remove_file(&path).expect("unlink the name");
    println!("name removed: {}", !path.exists());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let echoed = runtime.block_on(tokio_echoes(&dir.join("tokio.sock")));
    println!("tokio: {echoed} of 10 echoed");
    std::fs::remove_dir_all(&dir).expect("remove the scratch directory");
}
