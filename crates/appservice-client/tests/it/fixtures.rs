//! The data-driven test: every `fixtures/client/*.json` run by `appservice-client-vectors` (the
//! same runner reports them in `cargo xtask conformance`).

#[tokio::test]
async fn client_fixtures() {
    let dir = appservice_client_vectors::fixtures_dir();
    let vectors = appservice_client_vectors::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    for vector in &vectors {
        if let Err(e) = appservice_client_vectors::run(vector).await {
            panic!("{e}");
        }
    }
    eprintln!("{} client fixtures passed", vectors.len());
}
