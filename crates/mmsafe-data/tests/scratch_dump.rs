#[test]
fn dump() {
    let mut src = mmsafe_data::open("privacy:docs=4", &Default::default()).unwrap();
    for (k, c) in src.cases().enumerate() {
        let c = c.unwrap();
        if k % 5 == 0 {
            let img = c.images().next().unwrap();
            std::fs::write(format!("/tmp/priv_{k}.png"), img.bytes()).unwrap();
        }
    }
}
