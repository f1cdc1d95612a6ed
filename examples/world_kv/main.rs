//! A key-value server and three clients, checked as a property over schedules of crashes,
//! partitions, holds and fault changes, through links that lose 5%: the careful clients read
//! back every value in every case; the careless one, which takes a completed `write_all` for
//! a delivered value, is caught, and its failure shrinks to the crash that loses the value,
//! printed with the one line that replays it.
//!
//! ```sh
//! cargo run --example world_kv
//! FERRY_WORLD_CAPTURES=/tmp/kv cargo run --example world_kv   # and the captures of the failure
//! ```

mod kv;

use ferry::sim::world::property::Property;
use kv::Client;

fn main() {
    let careful = Property::new(kv::plan()).cases(300).check(
        |seed| kv::world(seed, Client::Careful),
        kv::every_stored_value_reads_back,
    );
    println!("careful clients: every value read back, in each of {careful} cases");
    let careless = Property::new(kv::plan()).cases(300).try_check(
        |seed| kv::world(seed, Client::Careless),
        kv::every_stored_value_reads_back,
    );
    match careless {
        Ok(cases) => println!("careless client: no case of {cases} lost a value"),
        Err(failure) => println!("careless client: {failure}"),
    }
}
