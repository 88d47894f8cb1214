//! The xDS screen and its helpers, at a fixed "now", on a TestBackend.

use std::time::Duration;

use grpc_toolkit_channelz_client::csds::{Failure, XdsStatus};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::*;
use crate::fixtures::{self, now};
use crate::model::Link;
use crate::msg::{Action, Msg};
use crate::update::update;
use crate::view::view;
use crate::xds::{KNOWN_TYPES, channelz_target, display_order, status_rank, type_rank};

const LISTENER: &str = KNOWN_TYPES[0].0;
const ROUTE: &str = KNOWN_TYPES[1].0;
const CLUSTER: &str = KNOWN_TYPES[2].0;
const ENDPOINTS: &str = KNOWN_TYPES[3].0;

fn res(type_url: &str, name: &str, status: ClientResourceStatus, version: &str) -> Resource {
    Resource {
        type_url: type_url.into(),
        name: name.into(),
        status,
        version: version.into(),
        last_updated: Some(1_700_000_000 - 30),
        failure: None,
        summary: Summary::None,
    }
}

/// A client of `xds:///svc` with one resource of each status that
/// matters, the NACKed cluster last as the server sent it.
fn svc_status() -> XdsStatus {
    use ClientResourceStatus::*;
    let mut listener = res(LISTENER, "svc", Acked, "1");
    listener.summary = Summary::Listener {
        route_config_name: "route-svc".into(),
        inline_routes: false,
    };
    let mut route = res(ROUTE, "route-svc", Acked, "1");
    route.summary = Summary::Route {
        virtual_hosts: 1,
        clusters: vec!["cluster-svc".into()],
    };
    let mut endpoints = res(ENDPOINTS, "eds-svc", Acked, "1");
    endpoints.summary = Summary::Endpoints {
        total: 3,
        healthy: 2,
    };
    let gone = res(LISTENER, "gone", DoesNotExist, "");
    let pending = res(LISTENER, "pending", Requested, "");
    let mut cluster = res(CLUSTER, "cluster-svc", Nacked, "1");
    cluster.summary = Summary::Cluster {
        kind: "EDS".into(),
        eds_service_name: "eds-svc".into(),
    };
    cluster.failure = Some(Failure {
        version: "2".into(),
        details: "LB policy is not supported".into(),
        at: Some(1_700_000_000 - 5),
    });
    XdsStatus {
        scopes: vec![Scope {
            client_scope: "xds:/svc".into(),
            node_id: "node-1".into(),
            resources: vec![listener, route, endpoints, gone, pending, cluster],
        }],
        dropped: 0,
    }
}

/// A connected model with a top channel `xds:///svc` (id 7), on the xDS
/// screen, after one CSDS read of `status`.
fn on_xds(status: XdsStatus) -> Model {
    on_xds_with(
        status,
        fixtures::channel(7, "xds:///svc", 3, (0, 0, 0), &[]),
    )
}

/// [`on_xds`] with `channel` as the one top channel.
fn on_xds_with(status: XdsStatus, channel: grpc_toolkit_proto::channelz::v1::Channel) -> Model {
    let mut m = Model::new("localhost:50051", Duration::from_secs(1), now());
    update(&mut m, Msg::Connected);
    update(
        &mut m,
        Msg::Overview {
            at: now(),
            channels: vec![channel],
            servers: vec![],
            server_socket_counts: vec![],
            incomplete: vec![],
        },
    );
    update(&mut m, Msg::Action(Action::Xds));
    update(
        &mut m,
        Msg::Xds {
            at: now(),
            poll: XdsPoll::Status(status),
        },
    );
    m
}

fn draw(model: &Model, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal.draw(|f| view(model, f)).expect("draw");
    terminal.backend().buffer().clone()
}

fn text(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (0..area.height)
        .map(|y| (0..area.width).map(|x| buffer[(x, y)].symbol()).collect())
        .collect()
}

/// Where `needle` first starts on screen: (column, row).
fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let lines = text(buffer);
    lines.iter().enumerate().find_map(|(y, line)| {
        // Columns are cells; every cell here is one char wide.
        let chars: Vec<char> = line.chars().collect();
        let n: Vec<char> = needle.chars().collect();
        (0..chars.len().saturating_sub(n.len()) + 1)
            .find(|&x| chars[x..].starts_with(&n))
            .map(|x| (x as u16, y as u16))
    })
}

fn row_of(buffer: &Buffer, needle: &str) -> u16 {
    find(buffer, needle)
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", text(buffer).join("\n")))
        .1
}

#[test]
fn nacked_rows_come_first_in_red_with_both_versions_and_the_reason() {
    let m = on_xds(svc_status());
    let b = draw(&m, 160, 30);
    let screen = text(&b).join("\n");
    let nacked = row_of(&b, "cluster-svc ");
    // The scope heading, then the NACKED cluster, then the listeners
    // (problems first), the route, the endpoints.
    assert!(row_of(&b, "xds:/svc") < nacked, "{screen}");
    for later in ["gone", "pending", "route-svc", "eds-svc"] {
        assert!(
            nacked < row_of(&b, later),
            "{later} after the NACK:\n{screen}"
        );
    }
    assert!(row_of(&b, " gone ") < row_of(&b, " svc "), "{screen}");
    let line = &text(&b)[usize::from(nacked)];
    assert!(line.contains("NACKED"), "{line}");
    assert!(
        line.contains("rejected 2: LB policy is not supported"),
        "{line}"
    );
    let (x, y) = find(&b, "NACKED").expect("NACKED on screen");
    assert_eq!(b[(x, y)].fg, Color::Red);
    assert!(b[(x, y)].modifier.contains(Modifier::BOLD));
    let (x, y) = find(&b, "DOES_NOT_EXIST").expect("DOES_NOT_EXIST on screen");
    assert_eq!(b[(x, y)].fg, Color::Yellow);
    let (x, y) = find(&b, " ACKED ").expect("ACKED on screen");
    assert_eq!(b[(x + 1, y)].fg, Color::Green);
    // The accepted version in its column.
    assert!(line.contains(" 1 "), "{line}");
}

/// The longest state of a channel with a long id stays whole on the
/// scope's heading (it was cut to `ch 12345 TRANSIE` in the status column).
#[test]
fn the_scope_heading_keeps_a_long_channel_state_whole() {
    let channel = fixtures::channel(12345, "xds:///svc", 4, (0, 0, 0), &[]);
    let m = on_xds_with(svc_status(), channel);
    let b = draw(&m, 100, 20);
    let scope = &text(&b)[usize::from(row_of(&b, "xds:/svc"))];
    assert!(scope.contains("ch 12345 TRANSIENT_FAILURE"), "{scope}");
    let b = draw(&m, 160, 20);
    let scope = &text(&b)[usize::from(row_of(&b, "xds:/svc"))];
    assert!(
        scope.contains("ch 12345 TRANSIENT_FAILURE · node node-1 · 6 resources"),
        "{scope}"
    );
}

#[test]
fn the_scope_shows_its_channel_and_enter_opens_it() {
    let mut m = on_xds(svc_status());
    let b = draw(&m, 160, 30);
    let scope = &text(&b)[usize::from(row_of(&b, "xds:/svc"))];
    assert!(scope.contains("ch 7 READY"), "{scope}");
    assert!(scope.contains("node node-1"), "{scope}");
    // The first row is the scope heading.
    update(&mut m, Msg::Action(Action::Enter));
    assert_eq!(m.screen(), Screen::Channel(7));
    // x goes back to the xDS screen, not deeper.
    update(&mut m, Msg::Action(Action::Xds));
    assert_eq!(m.stack, vec![Screen::Overview, Screen::Xds]);
}

#[test]
fn enter_on_a_resource_shows_its_config_and_the_whole_reason_wrapped() {
    let mut status = svc_status();
    let reason = format!("cluster cluster-svc: {} END-OF-REASON", "word ".repeat(80));
    status.scopes[0].resources[5]
        .failure
        .as_mut()
        .expect("the NACK")
        .details = reason;
    let mut m = on_xds(status);
    // Row 0 is the scope, row 1 the NACKED cluster.
    update(&mut m, Msg::Action(Action::Down));
    update(&mut m, Msg::Action(Action::Enter));
    assert_eq!(m.screen(), Screen::XdsResource);
    let b = draw(&m, 80, 30);
    let screen = text(&b).join("\n");
    for want in [
        "Cluster cluster-svc",
        "NACKED",
        "1 (accepted)",
        "EDS",
        "eds-svc",
        "last rejected update",
        "END-OF-REASON",
    ] {
        assert!(screen.contains(want), "{want:?} missing:\n{screen}");
    }
    // Wrapped over several lines, inside the frame.
    assert!(
        row_of(&b, "END-OF-REASON") > row_of(&b, "reason") + 2,
        "{screen}"
    );
    update(&mut m, Msg::Action(Action::Back));
    assert_eq!(m.screen(), Screen::Xds);
}

#[test]
fn control_bytes_in_names_and_reasons_are_escaped() {
    let mut status = svc_status();
    status.scopes[0].client_scope = "xds:/svc\u{1b}]0;owned\u{7}".into();
    status.scopes[0].node_id = "node\r\nFAKE".into();
    let cluster = &mut status.scopes[0].resources[5];
    cluster.name = "evil\u{1b}[31mred\nline".into();
    let failure = cluster.failure.as_mut().expect("the NACK");
    failure.details = "bad\u{1b}[2J\nstatus: ACKED".into();
    failure.version = "v\u{202e}2".into();
    let mut m = on_xds(status);
    let b = draw(&m, 200, 30);
    let screen = text(&b).join("\n");
    assert!(
        !screen.chars().any(|c| c.is_control() && c != '\n'),
        "a raw control character reached the screen:\n{screen:?}"
    );
    assert!(!screen.contains('\u{202e}'));
    for want in [
        "evil\\x1b[31mred\\nline",
        "bad\\x1b[2J\\nstatus: ACKED",
        "xds:/svc\\x1b]0;owned\\x07",
        "node\\r\\nFAKE",
        "v\\u{202e}2",
    ] {
        assert!(screen.contains(want), "{want:?} missing:\n{screen}");
    }
    update(&mut m, Msg::Action(Action::Down));
    update(&mut m, Msg::Action(Action::Enter));
    let screen = text(&draw(&m, 200, 30)).join("\n");
    assert!(!screen.chars().any(|c| c.is_control() && c != '\n'));
    assert!(screen.contains("bad\\x1b[2J\\nstatus: ACKED"), "{screen}");
}

fn reversed_at(b: &Buffer, needle_row: &str, status: &str) -> bool {
    let y = row_of(b, needle_row);
    let line = &text(b)[usize::from(y)];
    let x = line
        .find(&format!(" {status} "))
        .expect("status on the row")
        + 1;
    let x = line[..x].chars().count() as u16;
    b[(x, y)].modifier.contains(Modifier::REVERSED)
}

#[test]
fn a_status_or_version_change_is_marked_for_a_while() {
    let mut m = on_xds(svc_status());
    // The selection (a reversed row) stays on the scope heading, away
    // from the rows we look at.
    update(&mut m, Msg::Action(Action::Top));
    let b = draw(&m, 160, 30);
    assert!(
        !reversed_at(&b, "RouteConfiguration", "ACKED"),
        "no change yet"
    );

    let mut next = svc_status();
    next.scopes[0].resources[1].version = "2".into(); // route-svc
    next.scopes[0].resources[3].status = ClientResourceStatus::Acked; // gone
    let later = now() + Duration::from_secs(2);
    update(
        &mut m,
        Msg::Xds {
            at: later,
            poll: XdsPoll::Status(next.clone()),
        },
    );
    let b = draw(&m, 160, 30);
    assert!(
        reversed_at(&b, "RouteConfiguration", "ACKED"),
        "a new version"
    );
    assert!(reversed_at(&b, " gone ", "ACKED"), "a new status");
    assert!(
        !reversed_at(&b, "ClusterLoadAssignment", "ACKED"),
        "unchanged"
    );

    update(
        &mut m,
        Msg::Tick(later + STATE_CHANGE + Duration::from_secs(1)),
    );
    let b = draw(&m, 160, 30);
    assert!(
        !reversed_at(&b, "RouteConfiguration", "ACKED"),
        "the mark fades"
    );
}

const STATE_CHANGE: Duration = crate::model::STATE_CHANGE_HIGHLIGHT;

#[test]
fn a_server_without_csds_is_one_line_and_a_failure_is_escaped() {
    let mut m = on_xds(svc_status());
    update(
        &mut m,
        Msg::Xds {
            at: now(),
            poll: XdsPoll::Unsupported,
        },
    );
    let screen = text(&draw(&m, 100, 20)).join("\n");
    assert!(screen.contains(UNSUPPORTED), "{screen}");
    assert!(!screen.contains("cluster-svc"), "{screen}");
    update(
        &mut m,
        Msg::Xds {
            at: now(),
            poll: XdsPoll::Failed("deadline\u{1b}[2J exceeded".into()),
        },
    );
    let screen = text(&draw(&m, 100, 20)).join("\n");
    assert!(
        screen.contains("CSDS read failed: deadline\\x1b[2J exceeded"),
        "{screen}"
    );
}

#[test]
fn tiny_and_narrow_terminals_still_render() {
    let mut status = svc_status();
    status.scopes[0].resources[5]
        .failure
        .as_mut()
        .expect("the NACK")
        .details = "x".repeat(1024);
    let mut m = on_xds(status);
    let screen = text(&draw(&m, 30, 8)).join("\n");
    assert!(screen.contains("terminal too small"), "{screen}");
    // The smallest screen the layout supports: the long reason is cut.
    let b = draw(&m, 60, 12);
    assert!(find(&b, "xds").is_some());
    update(&mut m, Msg::Action(Action::Down));
    update(&mut m, Msg::Action(Action::Enter));
    let b = draw(&m, 60, 12);
    assert!(find(&b, "NACKED").is_some());
}

#[test]
fn the_selection_follows_its_resource_when_rows_reorder() {
    let mut m = on_xds(svc_status());
    // Select the `pending` listener.
    while m
        .xds_row(m.xds.rows[m.cursor().row])
        .and_then(|(_, r)| r)
        .is_none_or(|r| r.name != "pending")
    {
        update(&mut m, Msg::Action(Action::Down));
    }
    // The route is NACKED now: it moves above the listener.
    let mut next = svc_status();
    next.scopes[0].resources[1].status = ClientResourceStatus::Nacked;
    update(
        &mut m,
        Msg::Xds {
            at: now(),
            poll: XdsPoll::Status(next),
        },
    );
    let (_, r) = m.xds_row(m.xds.rows[m.cursor().row]).expect("a row");
    assert_eq!(r.map(|r| r.name.as_str()), Some("pending"));
}

#[test]
fn help_and_footer_list_the_key() {
    let mut m = on_xds(svc_status());
    update(&mut m, Msg::Action(Action::Back));
    let screen = text(&draw(&m, 140, 30)).join("\n");
    assert!(screen.contains("x xds"), "{screen}");
    update(&mut m, Msg::Action(Action::Help));
    let screen = text(&draw(&m, 140, 30)).join("\n");
    assert!(
        screen.contains("xDS status (CSDS): resources, NACKs, reasons"),
        "{screen}"
    );
    let _ = Link::Connected;
}

#[test]
fn other_types_sort_after_the_known_ones_by_type_url() {
    assert!(type_rank("type.example/A") > type_rank(ENDPOINTS));
    assert!(status_rank(ClientResourceStatus::Nacked) < status_rank(ClientResourceStatus::Acked));
}

fn bare(type_url: &str, name: &str, status: ClientResourceStatus) -> Resource {
    Resource {
        type_url: type_url.into(),
        name: name.into(),
        status,
        version: String::new(),
        last_updated: None,
        failure: None,
        summary: Summary::None,
    }
}

#[test]
fn scopes_join_channelz_targets() {
    assert_eq!(channelz_target("xds:/svc"), "xds:///svc");
    assert_eq!(channelz_target("xds:///svc"), "xds:///svc");
    assert_eq!(channelz_target("xds://auth/svc"), "xds://auth/svc");
    assert_eq!(channelz_target("#server"), "#server");
}

#[test]
fn nacked_first_then_by_type_problems_first() {
    use ClientResourceStatus::*;
    let [l, r, c, e] = KNOWN_TYPES.map(|(url, _)| url);
    let rs = vec![
        bare(e, "e", Acked),
        bare("type.example/Z", "z", Acked),
        bare(l, "l-ok", Acked),
        bare(c, "c-bad", Nacked),
        bare(l, "l-gone", DoesNotExist),
        bare(r, "r", Requested),
    ];
    let names: Vec<&str> = display_order(&rs)
        .into_iter()
        .map(|i| rs[i].name.as_str())
        .collect();
    assert_eq!(names, ["c-bad", "l-gone", "l-ok", "r", "e", "z"]);
    assert_eq!(type_name(c), "Cluster");
    assert_eq!(type_name("type.example/Z"), "type.example/Z");
    assert!(is_problem(Timeout) && is_problem(Nacked) && !is_problem(Requested));
}

/// A server's longest texts (1,024 characters, each control four to eight
/// once escaped) do not push the status or the reason off the resource
/// screen: every field but the reason is one line cut with `…`, the reason
/// wraps under its label, and what does not fit says so.
#[test]
fn long_fields_keep_the_status_and_reason_on_screen() {
    let mut status = svc_status();
    let long = "\\x1b[2J".repeat(1024);
    status.scopes[0].client_scope = format!("xds:/svc{long}");
    status.scopes[0].node_id = long.clone();
    let nacked = &mut status.scopes[0].resources[5];
    nacked.name = format!("cluster-svc{long}");
    nacked.failure.as_mut().expect("the NACK").details = format!("bad{long}");
    let mut m = on_xds(status);
    update(&mut m, Msg::Action(Action::Down));
    update(&mut m, Msg::Action(Action::Enter));
    assert_eq!(m.screen(), Screen::XdsResource);
    let b = draw(&m, 80, 24);
    let lines = text(&b);
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(&format!("│{prefix}")))
            .unwrap_or_else(|| panic!("{prefix:?} on\n{}", lines.join("\n")))
    };
    for (prefix, row) in [("scope", 3), ("type", 4), ("name", 5), ("status", 6)] {
        assert_eq!(at(prefix), row, "{prefix}: {}", lines.join("\n"));
    }
    assert!(
        lines[3].ends_with("…│") && lines[5].ends_with("…│"),
        "{}",
        lines.join("\n")
    );
    assert!(lines[at("reason")].contains("reason    bad\\x1b[2J"));
    // The reason's next line is under the text, not the label.
    let next = &lines[at("reason") + 1];
    assert!(
        next.starts_with("│          ") && !next.starts_with("│           "),
        "{next}"
    );
    let last = &lines[lines.len() - 3];
    assert!(
        last.contains("more lines: --json shows this resource whole"),
        "{}",
        lines.join("\n")
    );
    // A reason of words breaks between them.
    assert_eq!(
        hard_wrap("alpha beta gamma delta", 12),
        ["alpha beta ", "gamma delta"]
    );
    assert_eq!(hard_wrap("abcdefgh", 3), ["abc", "def", "gh"]);
    assert_eq!(hard_wrap("", 3), [""]);
    assert_eq!(hard_wrap("ab", 0), ["a", "b"]);
}

#[test]
fn xds_screen_snapshot() {
    let m = on_xds(svc_status());
    insta::assert_snapshot!(text(&draw(&m, 140, 20)).join("\n"));
}

#[test]
fn xds_resource_snapshot() {
    let mut m = on_xds(svc_status());
    update(&mut m, Msg::Action(Action::Down));
    update(&mut m, Msg::Action(Action::Enter));
    insta::assert_snapshot!(text(&draw(&m, 100, 24)).join("\n"));
}
