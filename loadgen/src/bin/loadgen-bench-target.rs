//! `loadgen-bench-target`: the tiny HTTP/1.1 server `scripts/bench-loadgen.sh`
//! points loadgen, wrk, oha and k6 at, so that the load tools (not the
//! target) are what is measured.
//!
//! It answers every request with the same small `200 OK` on a keep-alive
//! connection, on one thread (pin it to its own core with `taskset`), and
//! handles pipelined requests and `Content-Length` request bodies. It is
//! deliberately not a general server: no chunked request bodies, no routing,
//! no `Connection: close`. It only listens on loopback unless told otherwise.
//!
//! Usage: `loadgen-bench-target [ADDR]` (default `127.0.0.1:18080`). Prints
//! `listening on ADDR` once it accepts connections.

use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".to_string());
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen-bench-target: bad address {addr:?}: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen-bench-target: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(serve(addr)) {
        eprintln!("loadgen-bench-target: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: SocketAddr) -> io::Result<()> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // A deep backlog: 10,000 clients connect at once (the kernel caps it
    // at net.core.somaxconn).
    let listener = socket.listen(65_535)?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    let _ = connection(stream).await;
                });
            }
            // Out of file descriptors and the like: back off a little.
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

/// Serves one keep-alive connection until the peer closes it.
async fn connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 4096];
    let mut filled = 0usize;
    // Body bytes of the current request still to skip.
    let mut skip = 0usize;
    let mut out = Vec::with_capacity(RESPONSE.len());
    loop {
        if filled == buf.len() {
            // A request head larger than the buffer: grow it (bounded).
            if buf.len() >= 1 << 20 {
                return Ok(());
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut start = 0usize;
        loop {
            if skip > 0 {
                let take = skip.min(filled - start);
                skip -= take;
                start += take;
                if skip > 0 {
                    break;
                }
            }
            let Some(end) = find_head_end(&buf[start..filled]) else {
                break;
            };
            skip = content_length(&buf[start..start + end]);
            start += end;
            out.extend_from_slice(RESPONSE);
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}

/// Length of the request head (up to and including the blank line).
fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The `Content-Length` of a request head, 0 when it has none.
fn content_length(head: &[u8]) -> usize {
    const NAME: &[u8] = b"content-length:";
    head.split(|&c| c == b'\n')
        .find(|line| line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME))
        .and_then(|line| std::str::from_utf8(&line[NAME.len()..]).ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
