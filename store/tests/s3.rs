//! The store against a real S3-compatible server (moto) on loopback.

use std::io::{Read, Seek, SeekFrom};

use store::testing::{shared_server, SECRET_KEY};
use store::{Location, LockRefused, ObjectReader, ObjectUrl, RemoteLock};

fn bucket(name: &str) -> ObjectUrl {
    let s = shared_server();
    s.create_bucket(name);
    ObjectUrl {
        bucket: name.into(),
        key: String::new(),
    }
}

#[test]
fn objects_round_trip() {
    let b = bucket("round-trip");
    let a = b.join("dir/a.txt");
    a.put(b"hello world".as_slice().into()).unwrap();
    assert_eq!(&a.get().unwrap()[..], b"hello world");
    assert_eq!(&a.get_range(6..11).unwrap()[..], b"world");
    assert_eq!(a.head().unwrap().unwrap().size, 11);
    assert!(b.join("dir/none").head().unwrap().is_none());
    let e = b.join("dir/none").get().unwrap_err();
    assert!(
        e.is_not_found() && e.to_string().contains("s3://round-trip/dir/none"),
        "{e}"
    );
    b.join("dir/sub/b.txt").put(b"b".as_slice().into()).unwrap();
    b.join("dirx").put(b"x".as_slice().into()).unwrap();
    let keys: Vec<String> = b
        .join("dir")
        .list()
        .unwrap()
        .into_iter()
        .map(|i| i.url.key)
        .collect();
    assert_eq!(keys, ["dir/a.txt", "dir/sub/b.txt"]);
    a.delete().unwrap();
    a.delete().unwrap();
    assert!(a.head().unwrap().is_none());
}

#[test]
fn big_files_go_up_in_parts_and_read_back_by_ranges() {
    let b = bucket("multipart");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.bin");
    let data: Vec<u8> = (0..(40u32 << 20) + 12345)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&p, &data).unwrap();
    let o = b.join("big.bin");
    o.put_file(&p).unwrap();
    let size = o.head().unwrap().unwrap().size;
    assert_eq!(size, data.len() as u64);
    let mut r = ObjectReader::new(o.clone(), size).with_block(3 << 20);
    r.seek(SeekFrom::Start(17 << 20)).unwrap();
    let mut got = vec![0u8; 5 << 20];
    r.read_exact(&mut got).unwrap();
    assert_eq!(got, data[17 << 20..22 << 20]);
    let mut all = Vec::new();
    r.seek(SeekFrom::Start(0)).unwrap();
    r.read_to_end(&mut all).unwrap();
    assert!(all == data);
    let back = dir.path().join("back.bin");
    o.head().unwrap().unwrap().download(&back).unwrap();
    assert!(std::fs::read(&back).unwrap() == data);
}

#[test]
fn conditional_puts_refuse_the_second_writer() {
    let b = bucket("conditional");
    let m = b.join("marker");
    assert!(m.create(b"1".as_slice().into()).unwrap());
    assert!(!m.create(b"2".as_slice().into()).unwrap());
    assert_eq!(&m.get().unwrap()[..], b"1");
    let tag = m.head().unwrap().unwrap().etag.unwrap();
    assert!(!m
        .replace(b"3".as_slice().into(), "\"not-the-tag\"")
        .unwrap());
    assert!(m.replace(b"4".as_slice().into(), &tag).unwrap());
    assert_eq!(&m.get().unwrap()[..], b"4");
}

#[test]
fn one_lock_holder_at_a_time_and_dead_holders_are_taken_over() {
    let b = bucket("locks");
    let url = b.join("out/.sluice.lock");
    let first = RemoteLock::acquire(url.clone()).unwrap();
    match RemoteLock::acquire(url.clone()) {
        Err(LockRefused::Held(h)) => assert_eq!(h.pid, std::process::id()),
        other => panic!("second lock not refused: {other:?}"),
    }
    drop(first);
    assert!(
        url.head().unwrap().is_none(),
        "a dropped lock leaves no object"
    );
    // A holder of this host that is gone (a SIGKILL'd run): taken over at once.
    let dead = format!("{} 999999999 {}\n", store::hostname(), u64::MAX / 2);
    url.put(dead.into()).unwrap();
    let again = RemoteLock::acquire(url.clone()).unwrap();
    drop(again);
    // A live holder elsewhere whose lease has not expired: refused.
    url.put(format!("other-host 1 {}\n", u64::MAX / 2).into())
        .unwrap();
    assert!(matches!(
        RemoteLock::acquire(url.clone()),
        Err(LockRefused::Held(_))
    ));
}

#[test]
fn errors_name_the_object_and_never_a_credential() {
    shared_server();
    let Location::Object(o) = Location::parse("s3://no-such-bucket-here/k").unwrap() else {
        panic!()
    };
    let e = o.put(b"x".as_slice().into()).unwrap_err().to_string();
    assert!(e.contains("s3://no-such-bucket-here/k"), "{e}");
    assert!(!e.contains(SECRET_KEY), "{e}");
}

#[test]
fn a_mirror_uploads_finished_files_then_prunes_and_hydrates() {
    let b = bucket("mirror");
    let prefix = b.join("runs/x");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("out");
    std::fs::create_dir_all(local.join("work/phase-0")).unwrap();
    std::fs::write(local.join("part.parquet"), b"data").unwrap();
    std::fs::write(local.join("part2.parquet.tmp"), b"half").unwrap();
    std::fs::write(local.join("work/phase-0/done-00000.json"), b"{}").unwrap();
    std::fs::write(local.join(".sluice.lock"), b"pid 1").unwrap();
    let is_marker = |r: &str| r.contains("done-");
    let m = store::Mirror::new(local.clone(), prefix.clone(), is_marker, &[".sluice.lock"]);
    assert_eq!(m.pass().unwrap(), 2);
    assert_eq!(m.pass().unwrap(), 0, "unchanged files are not sent again");
    let keys = |p: &ObjectUrl| -> Vec<String> {
        p.list()
            .unwrap()
            .into_iter()
            .map(|o| o.url.relative_to(p).unwrap().to_string())
            .collect()
    };
    assert_eq!(
        keys(&prefix),
        ["part.parquet", "work/phase-0/done-00000.json"]
    );
    std::fs::remove_file(local.join("part.parquet")).unwrap();
    assert_eq!(m.prune().unwrap(), 1);
    assert_eq!(keys(&prefix), ["work/phase-0/done-00000.json"]);
    // Another machine: an empty directory gets the bucket's copy.
    let other = dir.path().join("other");
    let m2 = store::Mirror::new(other.clone(), prefix.clone(), is_marker, &[".sluice.lock"]);
    assert_eq!(m2.hydrate(false).unwrap(), 1);
    assert_eq!(
        std::fs::read(other.join("work/phase-0/done-00000.json")).unwrap(),
        b"{}"
    );
    assert_eq!(m2.pass().unwrap(), 0, "hydrated files count as sent");
}
