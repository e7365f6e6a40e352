//! Benchmarks of Cloister, side by side with peers, in `benches/`. This library holds the one
//! piece they share: the flat figure summary that `scripts/bench.sh` reports.

pub mod summary {
    //! `target/bench/summary.json`: one flat JSON object `{"figure-name": number}` that each
    //! benchmark merges its figures into.

    use std::path::PathBuf;

    /// Where the summary lives, relative to the workspace root.
    pub fn path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench/summary.json")
    }

    /// Merges `figures` into the summary (replacing figures of the same name) and returns its path.
    ///
    /// # Errors
    /// If the file cannot be read, parsed or written.
    pub fn merge(figures: &[(String, f64)]) -> std::io::Result<PathBuf> {
        let path = path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut map: serde_json::Map<String, serde_json::Value> = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
            Err(e) => return Err(e),
        };
        for (k, v) in figures {
            // Latencies and rates keep one decimal; small figures (GB/s) keep three.
            let scale = if v.abs() < 100.0 { 1000.0 } else { 10.0 };
            map.insert(k.clone(), serde_json::json!((v * scale).round() / scale));
        }
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(map))
            .map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")?;
        Ok(path)
    }
}
