//! Malformed input over raw TCP: the server answers or closes that connection, and keeps
//! serving everyone else.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vessel_cql_testserver::TestServer;

fn frame(version: u8, stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![version, 0];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(opcode);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn long_string(s: &str) -> Vec<u8> {
    let mut b = (s.len() as i32).to_be_bytes().to_vec();
    b.extend_from_slice(s.as_bytes());
    b
}

/// Sends `bytes`, then reads until the server answers one frame or closes.
async fn exchange(server: &TestServer, bytes: &[u8]) -> Option<(u8, Vec<u8>)> {
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut head = [0u8; 9];
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head)).await;
    match read {
        Ok(Ok(_)) => {
            let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).await.unwrap();
            Some((head[4], body))
        }
        _ => None,
    }
}

fn error_code(body: &[u8]) -> u32 {
    u32::from_be_bytes([body[0], body[1], body[2], body[3]])
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_server_survives() {
    let server = TestServer::start().await.unwrap();
    // OPTIONS works on a raw connection.
    let (op, _) = exchange(&server, &frame(4, 1, 0x05, &[])).await.unwrap();
    assert_eq!(op, 0x06, "SUPPORTED");
    // An older protocol version is refused with a protocol error.
    let (op, body) = exchange(&server, &frame(3, 1, 0x05, &[])).await.unwrap();
    assert_eq!((op, error_code(&body)), (0x00, 0x000A));
    // An unknown opcode.
    let (op, body) = exchange(&server, &frame(4, 1, 0x42, &[])).await.unwrap();
    assert_eq!((op, error_code(&body)), (0x00, 0x000A));
    // A QUERY whose body is truncated.
    let (op, body) = exchange(&server, &frame(4, 1, 0x07, &[0, 0, 0, 9, b'S']))
        .await
        .unwrap();
    assert_eq!((op, error_code(&body)), (0x00, 0x000A));
    // A QUERY of garbage text is a syntax error.
    let mut q = long_string("\u{0}\u{1}garbage(((");
    q.extend_from_slice(&[0, 1, 0]);
    let (op, body) = exchange(&server, &frame(4, 1, 0x07, &q)).await.unwrap();
    assert_eq!((op, error_code(&body)), (0x00, 0x2000));
    // EXECUTE of an unknown id is "unprepared".
    let mut e = vec![0, 2, 0xAB, 0xCD];
    e.extend_from_slice(&[0, 1, 0]);
    let (op, body) = exchange(&server, &frame(4, 1, 0x0A, &e)).await.unwrap();
    assert_eq!((op, error_code(&body)), (0x00, 0x2500));
    // A negative body length and a huge one.
    let mut bad = frame(4, 1, 0x07, &[]);
    bad[5..9].copy_from_slice(&(-5i32).to_be_bytes());
    let _ = exchange(&server, &bad).await;
    bad[5..9].copy_from_slice(&i32::MAX.to_be_bytes());
    let _ = exchange(&server, &bad).await;
    // Noise and a frame cut short.
    let _ = exchange(&server, &[0xFF; 3]).await;
    // Every prefix of a valid QUERY, sent and then abandoned.
    let mut q = long_string("SELECT keyspace_name FROM system_schema.keyspaces");
    q.extend_from_slice(&[0, 1, 0]);
    let full = frame(4, 1, 0x07, &q);
    for cut in 0..full.len() {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        s.write_all(&full[..cut]).await.unwrap();
    }
    // The server still answers a well-formed query.
    let (op, body) = exchange(&server, &full).await.unwrap();
    assert_eq!(op, 0x08, "RESULT");
    assert_eq!(&body[..4], &2i32.to_be_bytes(), "Rows");
}

#[tokio::test]
async fn every_prefix_and_mutation_of_statements_is_answered_without_panicking() {
    let server = TestServer::start().await.unwrap();
    let statements = [
        "CREATE KEYSPACE IF NOT EXISTS k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TABLE IF NOT EXISTS k.t (a bigint, b text, c decimal, PRIMARY KEY ((a), b))",
        "INSERT INTO k.t (a, b, c) VALUES (1, 'x', 1.5) IF NOT EXISTS",
        "UPDATE k.t SET c = 2 WHERE a = 1 AND b = 'x' IF c = 1.5",
        "SELECT a, token(a), COUNT(*) FROM k.t WHERE token(a) >= -5 AND a IN (1, 2) LIMIT 3",
        "DELETE FROM k.t WHERE a IN (1) AND b > 'a'",
        "BEGIN UNLOGGED BATCH DELETE FROM k.t WHERE a = 1; APPLY BATCH",
    ];
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    let mut n: i16 = 0;
    for st in statements {
        let mut variants: Vec<String> = (0..=st.len())
            .filter(|&i| st.is_char_boundary(i))
            .map(|i| st[..i].to_string())
            .collect();
        variants.extend(
            st.char_indices()
                .map(|(i, _)| format!("{}{}", &st[..i], &st[i + 1..])),
        );
        for v in variants {
            n = n.wrapping_add(1);
            let mut q = long_string(&v);
            q.extend_from_slice(&[0, 1, 0]);
            s.write_all(&frame(4, n, 0x07, &q)).await.unwrap();
            let mut head = [0u8; 9];
            s.read_exact(&mut head).await.expect("the server answers");
            assert_eq!(i16::from_be_bytes([head[2], head[3]]), n);
            let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).await.unwrap();
            if head[4] == 0x00 {
                let code = error_code(&body);
                assert!(
                    [0x2000, 0x2200, 0x2400].contains(&code),
                    "{v}: unexpected error code {code:#x}"
                );
            }
        }
    }
}

async fn read_frame(s: &mut TcpStream) -> (i16, u8, Vec<u8>) {
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head))
        .await
        .expect("a frame in time")
        .unwrap();
    let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    (i16::from_be_bytes([head[2], head[3]]), head[4], body)
}

#[tokio::test]
async fn registered_connections_get_schema_change_events() {
    let server = TestServer::start().await.unwrap();
    let mut listener = TcpStream::connect(server.addr()).await.unwrap();
    let mut register = 1u16.to_be_bytes().to_vec();
    register.extend_from_slice(&13u16.to_be_bytes());
    register.extend_from_slice(b"SCHEMA_CHANGE");
    listener
        .write_all(&frame(4, 1, 0x0B, &register))
        .await
        .unwrap();
    assert_eq!(read_frame(&mut listener).await.1, 0x02, "READY");

    let mut q = long_string(
        "CREATE KEYSPACE ev WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    );
    q.extend_from_slice(&[0, 1, 0]);
    let (op, body) = exchange(&server, &frame(4, 7, 0x07, &q)).await.unwrap();
    assert_eq!(op, 0x08);
    assert_eq!(&body[..4], &5i32.to_be_bytes(), "SchemaChange result");

    let (stream, op, body) = read_frame(&mut listener).await;
    assert_eq!((stream, op), (-1, 0x0C), "an EVENT frame on stream -1");
    let mut want = Vec::new();
    for s in ["SCHEMA_CHANGE", "CREATED", "KEYSPACE", "ev"] {
        want.extend_from_slice(&(s.len() as u16).to_be_bytes());
        want.extend_from_slice(s.as_bytes());
    }
    assert_eq!(body, want);
}
