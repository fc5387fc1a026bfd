//! Writes valid examples of each format into `<dir>/<target>/`: the fuzz targets' starting
//! corpora (scripts/fuzz.sh runs it).

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let seeds = match anax::fuzz::seeds() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("seeds: {e}");
            std::process::exit(1);
        }
    };
    for (i, (target, bytes)) in seeds.iter().enumerate() {
        let path = std::path::Path::new(&dir).join(target);
        if let Err(e) = std::fs::create_dir_all(&path)
            .and_then(|()| std::fs::write(path.join(format!("seed-{i}")), bytes))
        {
            eprintln!("seeds: {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    println!("{} seeds in {dir}", seeds.len());
}
