//! The module's linear memory stays bounded over millions of records in one
//! instance: the output buffer is reused, input copies are freed, nothing
//! leaks per record.

use starform_wasm::log_host::LogTransform;

const RECORDS: usize = 2_000_000;
const WARM_UP: usize = 10_000;

/// Small records covering every path: accepted, quarantined, shadowed,
/// malformed (text and bytes), plus a 256 KiB record now and then (it grows
/// the output buffer, which must be released again).
fn records() -> Vec<Vec<u8>> {
    let labels = r#"{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web"}"#;
    vec![
        format!(r#"{{"log":"ok","kubernetes":{{"labels":{labels}}}}}"#).into_bytes(),
        format!(r#"{{"project":"spoof","log":"x","kubernetes":{{"pod_labels":{labels}}}}}"#)
            .into_bytes(),
        br#"{"log":"x","kubernetes":{"labels":{"starform.io/project":"Bad_One"}}}"#.to_vec(),
        b"not json".to_vec(),
        b"\xff\xfe".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"log":"no labels"}"#.to_vec(),
    ]
}

fn big_record() -> Vec<u8> {
    format!(
        r#"{{"log":"{}","kubernetes":{{"labels":{{}}}}}}"#,
        "x".repeat(256 * 1024)
    )
    .into_bytes()
}

fn is_big(i: usize) -> bool {
    i % 100_000 == 5_000
}

#[test]
fn memory_is_bounded_per_record() {
    let mut host = LogTransform::new().unwrap();
    let small = records();
    let big = big_record();
    let mut after_warm_up = 0;
    for i in 0..RECORDS {
        let input = if is_big(i) {
            &big
        } else {
            &small[i % small.len()]
        };
        let out = host.transform(input).unwrap();
        assert!(out.first() == Some(&b'{') && out.last() == Some(&b'}'));
        if i + 1 == WARM_UP {
            after_warm_up = host.memory_bytes();
        }
    }
    let end = host.memory_bytes();
    assert_eq!(
        end, after_warm_up,
        "linear memory grew from {after_warm_up} to {end} bytes"
    );
    let counts = host.counts().unwrap();
    assert_eq!(counts.accepted + counts.total_quarantined(), RECORDS as u64);
}

#[test]
fn memory_is_bounded_in_batches() {
    let mut host = LogTransform::new().unwrap();
    let small = records();
    let big = big_record();
    let mut batch = Vec::new();
    let mut after_warm_up = 0;
    let mut i = 0;
    while i < RECORDS {
        batch.clear();
        for _ in 0..1000 {
            let input = if is_big(i) {
                &big
            } else {
                &small[i % small.len()]
            };
            batch.extend_from_slice(input);
            batch.push(b'\n');
            i += 1;
        }
        let out = host.transform_batch(&batch).unwrap();
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1000);
        if i == WARM_UP {
            after_warm_up = host.memory_bytes();
        }
    }
    let end = host.memory_bytes();
    assert_eq!(
        end, after_warm_up,
        "linear memory grew from {after_warm_up} to {end} bytes"
    );
}
