//! Snapshot tests of every screen and state, at a fixed "now".

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::view;
use crate::fixtures::{self, now};
use crate::model::{Link, Model};
use crate::msg::{Action, Msg};
use crate::update::update;

fn render(model: &Model, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal.draw(|f| view(model, f)).expect("draw");
    terminal.backend().to_string()
}

fn press(m: &mut Model, actions: &[Action]) {
    for a in actions {
        update(m, Msg::Action(*a));
    }
}

#[test]
fn overview() {
    insta::assert_snapshot!(render(&fixtures::populated(), 120, 30));
}

#[test]
fn overview_servers_pane_sorted_by_failures() {
    let mut m = fixtures::populated();
    press(&mut m, &[Action::Sort, Action::Sort, Action::NextPane]);
    insta::assert_snapshot!(render(&m, 120, 30));
}

#[test]
fn overview_filter_being_typed() {
    let mut m = fixtures::populated();
    press(
        &mut m,
        &[
            Action::StartFilter,
            Action::FilterChar('f'),
            Action::FilterChar('l'),
        ],
    );
    insta::assert_snapshot!(render(&m, 120, 30));
}

#[test]
fn empty_server() {
    let mut m = Model::new("localhost:50051", Duration::from_secs(1), now());
    update(&mut m, Msg::Connected);
    update(
        &mut m,
        Msg::Overview {
            at: now(),
            channels: vec![],
            servers: vec![],
            server_socket_counts: vec![],
            incomplete: vec![],
        },
    );
    insta::assert_snapshot!(render(&m, 100, 20));
}

#[test]
fn connecting() {
    let m = Model::new("localhost:50051", Duration::from_secs(1), now());
    insta::assert_snapshot!(render(&m, 100, 14));
}

#[test]
fn disconnected_before_any_data() {
    insta::assert_snapshot!(render(&fixtures::disconnected(), 100, 14));
}

#[test]
fn disconnected_keeps_last_data() {
    let mut m = fixtures::populated();
    update(
        &mut m,
        Msg::Disconnected {
            error: fixtures::outage("transport error: connection reset"),
            retry_at: now() + Duration::from_secs(2),
        },
    );
    insta::assert_snapshot!(render(&m, 120, 30));
}

#[test]
fn no_channelz_service() {
    let mut m = Model::new("localhost:50051", Duration::from_secs(1), now());
    update(&mut m, Msg::NoChannelz);
    insta::assert_snapshot!(render(&m, 100, 14));
}

#[test]
fn rpc_error_in_footer() {
    let mut m = fixtures::populated();
    update(
        &mut m,
        Msg::PollFailed("GetChannel(1): DEADLINE_EXCEEDED: rpc did not complete within 5s".into()),
    );
    insta::assert_snapshot!(render(&m, 120, 30));
}

#[test]
fn too_small() {
    insta::assert_snapshot!(render(&fixtures::populated(), 40, 8));
}

#[test]
fn help_overlay() {
    let mut m = fixtures::populated();
    press(&mut m, &[Action::Help]);
    insta::assert_snapshot!(render(&m, 120, 30));
}

#[test]
fn paused() {
    let mut m = fixtures::populated();
    press(&mut m, &[Action::Pause]);
    insta::assert_snapshot!(render(&m, 120, 30));
}

#[test]
fn channel_detail() {
    let mut m = fixtures::with_details();
    press(&mut m, &[Action::Enter]);
    insta::assert_snapshot!(render(&m, 120, 34));
}

#[test]
fn channel_detail_not_loaded_yet() {
    let mut m = fixtures::populated();
    m.stack.push(crate::model::Screen::Channel(42));
    insta::assert_snapshot!(render(&m, 100, 16));
}

#[test]
fn subchannel_detail() {
    let mut m = fixtures::with_details();
    press(&mut m, &[Action::Enter, Action::Enter]);
    insta::assert_snapshot!(render(&m, 120, 34));
}

#[test]
fn socket_detail_with_tcp_info() {
    let mut m = fixtures::with_details();
    press(&mut m, &[Action::Enter, Action::Enter, Action::Enter]);
    insta::assert_snapshot!(render(&m, 140, 24));
}

#[test]
fn socket_detail_with_tls() {
    let mut m = fixtures::with_details();
    m.stack.push(crate::model::Screen::Socket(11));
    insta::assert_snapshot!(render(&m, 140, 24));
}

#[test]
fn server_detail() {
    let mut m = fixtures::with_details();
    press(&mut m, &[Action::NextPane, Action::Enter]);
    update(
        &mut m,
        Msg::Details(crate::msg::Details {
            sockets: vec![fixtures::socket(12)],
            server_sockets: vec![(
                8,
                crate::model::ServerSocketsPage {
                    start: 0,
                    refs: vec![grpc_toolkit_proto::channelz::v1::SocketRef {
                        socket_id: 12,
                        name: String::new(),
                    }],
                    end: false,
                },
            )],
            ..Default::default()
        }),
    );
    insta::assert_snapshot!(render(&m, 120, 30));
}

#[test]
fn tree() {
    let mut m = fixtures::with_details();
    press(&mut m, &[Action::Tree, Action::Down]);
    insta::assert_snapshot!(render(&m, 120, 20));
}

#[test]
fn channel_detail_trace_scrolled() {
    let mut m = fixtures::with_long_trace(30);
    update(&mut m, fixtures::resize(34));
    press(
        &mut m,
        &[
            Action::Enter,
            Action::NextPane,
            Action::PageDown,
            Action::Down,
        ],
    );
    let screen = render(&m, 120, 34);
    assert!(screen.contains("events 10-17 of 30"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn trace_reaches_its_oldest_event() {
    let mut m = fixtures::with_long_trace(30);
    update(&mut m, fixtures::resize(34));
    press(&mut m, &[Action::Enter, Action::NextPane, Action::Bottom]);
    let screen = render(&m, 120, 34);
    assert!(
        screen.contains("events 23-30 of 30 (130 logged) ↑ newer"),
        "{screen}"
    );
    assert!(
        screen.contains("INFO  event 1 "),
        "the oldest is shown:\n{screen}"
    );
    assert!(!screen.contains("event 9 "), "a full last page:\n{screen}");
}

#[test]
fn subchannel_trace_scrolls_too() {
    let mut m = fixtures::with_details();
    update(&mut m, fixtures::resize(22));
    let page = m.trace_page;
    assert!(page < 4, "the subchannel's 4 events must not fit: {page}");
    press(&mut m, &[Action::Enter, Action::Enter]);
    let before = render(&m, 120, 22);
    let expected = format!("events 1-{page} of 4 (4 logged) ↓ older");
    assert!(before.contains(&expected), "{expected}\n{before}");
    assert!(
        before.contains("state changed to READY"),
        "newest first:\n{before}"
    );
    press(&mut m, &[Action::NextPane, Action::Down, Action::Down]);
    let after = render(&m, 120, 22);
    let expected = format!("events {}-4 of 4 (4 logged) ↑ newer", 5 - page);
    assert!(after.contains(&expected), "{expected}\n{after}");
    assert!(after.contains("Channel created"), "the oldest:\n{after}");
    assert!(!after.contains("state changed to READY"), "{after}");
}

#[test]
fn tree_scrolled_to_the_end() {
    let mut m = fixtures::many_channels(100);
    update(&mut m, fixtures::resize(20));
    press(&mut m, &[Action::Tree, Action::Bottom]);
    insta::assert_snapshot!(render(&m, 120, 20));
}

#[test]
fn link_states_have_distinct_titles() {
    let mut m = fixtures::populated();
    fixtures::set_link(&mut m, Link::Connecting);
    let connecting = render(&m, 120, 30);
    fixtures::set_link(&mut m, Link::Connected);
    let connected = render(&m, 120, 30);
    assert!(connecting.contains("connecting"));
    assert!(connected.contains("● connected"));
}

#[test]
fn a_member_that_left_the_fleet_says_so_with_and_without_data() {
    let left = Link::LeftFleet {
        at: now() - Duration::from_secs(7),
    };
    let mut m = fixtures::populated();
    fixtures::set_link(&mut m, left.clone());
    let with_data = render(&m, 120, 30);
    assert!(
        with_data.contains("● left the fleet 7s ago, not polled"),
        "{with_data}"
    );
    assert!(
        with_data.contains("channels ("),
        "the last data stays: {with_data}"
    );

    let mut m = Model::new("10.0.0.7:50051", Duration::from_secs(1), now());
    m.link = left;
    let empty = render(&m, 100, 14);
    assert!(empty.contains("10.0.0.7:50051 left the fleet"), "{empty}");
    assert!(empty.contains("Esc returns to the fleet"), "{empty}");
}
