//! The supervisor's `stop` and `start` (the fault suite's Postgres outage):
//! the server goes away and comes back on the same port with its data, and
//! the cluster still goes away with its handle.
#![allow(clippy::unwrap_used)]

use std::net::TcpStream;

use pgtemp::TempPostgres;

fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_stopped_server_refuses_connections_and_starts_again_on_the_same_port_with_its_data() {
    let mut pg = TempPostgres::start().unwrap();
    let port = pg.port();
    pg.create_database("kept").unwrap();
    assert!(accepts(port));

    pg.stop_server().unwrap();
    assert!(!accepts(port), "nothing listens while stopped");

    pg.start_server().unwrap();
    assert!(accepts(port), "back on the same port");
    // The data survived: the database is still there (createdb refuses a
    // second one of the same name).
    let again = pg.create_database("kept").unwrap_err();
    assert!(format!("{again:#}").contains("already exists"), "{again:#}");

    let dir = pg.dir().to_owned();
    drop(pg);
    assert!(!accepts(port), "stopped with its handle");
    assert!(!dir.exists(), "and its directory removed");
}
