"""The durable spool: appended, survives restarts, replayed in order, never torn."""

from __future__ import annotations

from pathlib import Path

from services.gateway.metering.spool import Spool


def test_appends_survive_a_new_process_and_are_replayed_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "gateway-a")
    spool.open()
    for number in range(5):
        spool.append(b'{"n": %d}' % number)
    assert spool.pending == 5
    restarted = Spool(tmp_path, "gateway-a")
    restarted.open()
    assert restarted.pending == 5
    with restarted.claimed(restarted.path) as events:
        assert events == [b'{"n": %d}' % n for n in range(5)]
    restarted.done(restarted.path, 3)
    assert restarted.pending == 2
    with restarted.claimed(restarted.path) as events:
        assert events == [b'{"n": 3}', b'{"n": 4}']
    restarted.done(restarted.path, 2)
    assert restarted.pending == 0


def test_files_of_dead_processes_are_found_and_removed_when_done(tmp_path: Path) -> None:
    dead = Spool(tmp_path, "gateway-dead")
    dead.open()
    dead.append(b'{"n": 1}')
    alive = Spool(tmp_path, "gateway-alive")
    alive.open()
    assert dead.path in alive.files()
    with alive.claimed(dead.path) as events:
        assert events == [b'{"n": 1}']
    alive.done(dead.path, 1)
    assert not dead.path.exists()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "gateway-b")
    spool.open()
    spool.append(b'{"n": 1}')
    with spool.path.open("ab") as handle:
        handle.write(b'{"n": 2, "tor')  # a crash mid-write, before any fsync
    with spool.claimed(spool.path) as events:
        assert events == [b'{"n": 1}']


def test_a_file_claimed_by_another_replayer_is_left_alone(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "gateway-c")
    spool.open()
    spool.append(b'{"n": 1}')
    other = Spool(tmp_path, "gateway-d")
    with spool.claimed(spool.path) as mine:
        assert mine == [b'{"n": 1}']
        with other.claimed(spool.path) as theirs:
            assert theirs is None
