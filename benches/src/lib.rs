//! Benchmarks of Cloister, side by side with peers, in `benches/`. This library holds the
//! pieces they share: the flat figure summary that `scripts/bench.sh` reports, timing, and the
//! real processes the end-to-end benchmarks start.

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

pub mod timing {
    //! The sampling loop the verification benches share.

    use std::time::{Duration, Instant};

    /// How many samples to take of each implementation.
    #[derive(Clone, Copy, Debug)]
    pub struct Sampling {
        /// At least this many rounds.
        pub min: usize,
        /// At most this many rounds.
        pub max: usize,
        /// Stop after `min` rounds once this much time has passed.
        pub budget: Duration,
    }

    /// An implementation under test: a name and a function that must accept `T`.
    pub type Impl<T> = (&'static str, fn(&T) -> Result<(), String>);

    /// Median microseconds of each implementation on `input`. Samples are taken round-robin (one
    /// call of each implementation per round, starting one further each round), so load from
    /// elsewhere on a shared machine, and the cache pollution one implementation leaves for the
    /// next, hit all alike.
    ///
    /// # Panics
    /// If an implementation rejects `input`: the bench checks acceptance before timing.
    pub fn round_robin_medians_us<T>(input: &T, impls: &[Impl<T>], s: Sampling) -> Vec<f64> {
        for (name, f) in impls {
            for _ in 0..3 {
                if let Err(e) = f(input) {
                    panic!("{name} rejected the input during warm-up: {e}");
                }
            }
        }
        let start = Instant::now();
        let mut samples = vec![Vec::with_capacity(s.max); impls.len()];
        let mut rounds = 0;
        while rounds < s.min || (rounds < s.max && start.elapsed() < s.budget) {
            for k in 0..impls.len() {
                let i = (rounds + k) % impls.len();
                let (name, f) = impls[i];
                let t = Instant::now();
                if let Err(e) = f(input) {
                    panic!("{name} rejected the input: {e}");
                }
                samples[i].push(t.elapsed().as_secs_f64() * 1e6);
            }
            rounds += 1;
        }
        samples.into_iter().map(median).collect()
    }

    /// The median of `v` (upper median for even lengths).
    ///
    /// # Panics
    /// If `v` is empty.
    pub fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}

pub mod processes {
    //! Real processes started by a benchmark: killed when the benchmark ends, however it ends.

    use std::path::Path;
    use std::process::Child;
    use std::time::Duration;

    /// Kills the processes it holds when dropped, so a failed step leaves nothing running.
    #[derive(Debug, Default)]
    pub struct Processes(pub Vec<Child>);

    impl Drop for Processes {
        fn drop(&mut self) {
            for child in &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Waits up to 10 s for `path` to appear: a non-empty file (an address file written by
    /// rename) or a socket.
    ///
    /// # Panics
    /// When it does not appear in time (the benchmark cannot go on).
    pub fn wait_for_path(path: &Path) {
        for _ in 0..400 {
            if std::fs::metadata(path).is_ok_and(|m| m.len() > 0 || !m.is_file()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("timed out waiting for {}", path.display());
    }
}
