//! The floor under loadgen's streaming cost: the leanest reader of the
//! bench target's token streams this kernel allows with one read per
//! readiness, for `scripts/bench-journey.sh` to run beside loadgen.
//!
//! It does what any epoll reader must do per token event (wait for
//! readiness, read the socket until it is drained) and nothing else: no
//! HTTP parsing, no timestamps, no recording, no async runtime; one thread,
//! edge-triggered `mio`, a fixed buffer per connection. It counts SSE
//! events (each ends with a blank line) and re-sends the stream request
//! when a stream ends (the chunked body's last chunk). What it costs per
//! event is what the kernel and the machine cost: loadgen, which also
//! parses, times and records every event, cannot go below it.
//!
//! Usage: `stream_floor ADDR CONNECTIONS SECONDS`; prints one line of
//! `key=value` figures after SECONDS: token events (SSE events less one
//! `done` per completed stream, as loadgen counts them), completed
//! streams, CPU, token events per CPU-second, wake-ups and reads.

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"POST /api/chat/stream HTTP/1.1\r\nhost: bench\r\n\
cookie: access_token=x\r\nx-csrf-token: x\r\ncontent-type: application/json\r\n\
content-length: 37\r\n\r\n{\"session_id\":1,\"message\":\"Hi there\"}";

/// One stream connection: how far into a blank line and into the last
/// chunk (`0\r\n\r\n`) the bytes read so far are.
struct Conn {
    stream: TcpStream,
    newline: bool,
    end: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(conns), Some(secs)) = (
        args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(2).and_then(|a| a.parse::<usize>().ok()),
        args.get(3).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: stream_floor ADDR CONNECTIONS SECONDS");
        std::process::exit(2);
    };
    if let Err(e) = run(addr, conns, Duration::from_secs(secs)) {
        eprintln!("stream_floor: {e}");
        std::process::exit(1);
    }
}

fn run(addr: SocketAddr, n: usize, length: Duration) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let std_stream = std::net::TcpStream::connect(addr)?;
        std_stream.set_nodelay(true)?;
        (&std_stream).write_all(REQUEST)?;
        std_stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std_stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        conns.push(Conn {
            stream,
            newline: false,
            end: 0,
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 16 * 1024];
    let (mut sse, mut streams, mut wakeups, mut reads) = (0u64, 0u64, 0u64, 0u64);
    let deadline = Instant::now() + length;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        poll.poll(&mut events, Some(left))?;
        wakeups += 1;
        for event in &events {
            let c = &mut conns[event.token().0];
            // Read until drained; a short read says so (as tokio reads).
            loop {
                reads += 1;
                match c.stream.read(&mut buf) {
                    Ok(0) => return Err(io::Error::other("the target closed a stream")),
                    Ok(got) => {
                        for &b in &buf[..got] {
                            if b == b'\n' {
                                sse += u64::from(c.newline);
                                c.newline = !c.newline;
                            } else if b != b'\r' {
                                c.newline = false;
                            }
                            c.end = match (c.end, b) {
                                (_, b'0') => 1,
                                (1 | 3, b'\r') => c.end + 1,
                                (2, b'\n') => 3,
                                (4, b'\n') => 5,
                                _ => 0,
                            };
                            if c.end == 5 {
                                streams += 1;
                                c.end = 0;
                                c.stream.write_all(REQUEST)?;
                            }
                        }
                        if got < buf.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let (user, sys) = cpu_seconds();
    let cpu = user + sys;
    // Every completed stream's last event is its `done`.
    let tokens = sse.saturating_sub(streams);
    let per = |n: u64, d: u64| n as f64 / d.max(1) as f64;
    println!(
        "tokens={tokens} streams={streams} cpu_user_s={user:.2} cpu_sys_s={sys:.2} \
         tokens_per_cpu_s={:.0} events_per_wakeup={:.2} reads_per_event={:.3}",
        tokens as f64 / cpu,
        per(sse, wakeups),
        per(reads, sse),
    );
    Ok(())
}

/// The process's user and system CPU seconds so far, from
/// `/proc/self/stat` (in USER_HZ ticks, 100 per second in Linux's ABI).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: utime and stime are
    // the 12th and 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let mut fields = rest.split_whitespace().skip(11);
    let mut ticks = || {
        fields
            .next()
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (user, sys) = (ticks(), ticks());
    (user / 100.0, sys / 100.0)
}
