pub mod proto {
    tonic::include_proto!("plexsource.v1");
}
fn main() {}
