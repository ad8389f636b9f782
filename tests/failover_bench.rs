//! The failover bench's pure parts (benches/failover is a harness-less
//! bench target, whose own #[test]s would never run): hbd's share of a
//! takeover, the serial relay's frame cutter and its dice.
#[allow(dead_code)]
#[path = "../benches/failover/phases.rs"]
mod phases;
#[allow(dead_code)]
#[path = "../benches/failover/relay.rs"]
mod relay;

use phases::Phases;
use relay::{Dice, Frames};

fn p(v: [f64; 7]) -> Phases {
    Phases {
        dead: Some(v[0]),
        ip_start: Some(v[1]),
        ip_done: Some(v[2]),
        client_arp: Some(v[3]),
        svc_start: Some(v[4]),
        svc_done: Some(v[5]),
        answer: Some(v[6]),
        answer_sent: Some(v[6] - 1.5),
    }
}

#[test]
fn the_share_is_the_time_outside_the_start_commands() {
    // Profile of the 2026-12-05 run, 20ms/100ms crash, script IPaddr:
    // dead 87.4, IPaddr 93.5–116.0, hbweb 121.6–137.1, answer 140.2.
    let x = p([87.4, 93.5, 116.0, 115.4, 121.6, 137.1, 140.2]);
    let share = x.own_share().unwrap();
    // (93.5 − 87.4) + (121.6 − 116.0) + (140.2 − 137.1) = 14.8
    assert!((share - 14.8).abs() < 1e-9, "{share}");
    assert!((x.after_starts().unwrap() - 3.1).abs() < 1e-9);
    assert!((x.answering_get().unwrap() - 1.5).abs() < 1e-9);
}

#[test]
fn an_answer_during_the_service_start_ends_the_count() {
    // 1s/3s: hbweb's start returned after the first answer.
    let x = p([2619.5, 2624.8, 2648.0, 2647.5, 2654.2, 2749.0, 2675.9]);
    let share = x.own_share().unwrap();
    // (2624.8 − 2619.5) + (2654.2 − 2648.0) = 11.5; nothing after the answer.
    assert!((share - 11.5).abs() < 1e-9, "{share}");
    assert_eq!(x.after_starts(), Some(0.0));
}

#[test]
fn a_missing_moment_gives_no_share() {
    let mut x = p([10.0, 10.2, 10.5, 10.5, 11.0, 20.0, 21.0]);
    assert!(x.own_share().is_some());
    x.svc_start = None;
    assert_eq!(x.own_share(), None);
    x.svc_start = Some(11.0);
    x.dead = None;
    assert_eq!(x.own_share(), None);
    // An unseen end counts as running until the answer.
    x.dead = Some(10.0);
    x.svc_done = None;
    let share = x.own_share().unwrap();
    assert!((share - 0.7).abs() < 1e-9, "{share}");
    assert_eq!(x.after_starts(), Some(0.0));
}

#[test]
fn frames_are_cut_at_compact_lines_and_classic_blocks() {
    let mut f = Frames::default();
    let mut out: Vec<Vec<u8>> = Vec::new();
    f.push(b"~s a b c\n>>>\nt=status\n", |x| out.push(x.to_vec()));
    f.push(b"src=x\n<<<\n~k 1", |x| out.push(x.to_vec()));
    f.push(b" 2\n", |x| out.push(x.to_vec()));
    assert_eq!(
        out,
        vec![
            b"~s a b c\n".to_vec(),
            b">>>\nt=status\nsrc=x\n<<<\n".to_vec(),
            b"~k 1 2\n".to_vec()
        ]
    );
}

#[test]
fn dice_hit_about_the_asked_share() {
    let mut d = Dice::new();
    let hits = (0..100_000).filter(|_| d.hit(5)).count();
    // 5 % of 100 000 is 5000 ± 69 (one sigma): ±600 is over 8 sigma.
    assert!((4400..5600).contains(&hits), "{hits}");
    assert!((0..1000).all(|_| !d.hit(0)));
    assert!((0..1000).all(|_| d.hit(100)));
}
