"""Every whole number typed on the command line has a range: out of it, one line naming the option and
the accepted range, exit 2, before any file is read. (Below the least value, some commands answer with
their own one-line error instead, as their tests check.)"""

import pytest

from dnnconf.cli import main

HUGE = str(10**30)

CASES = [
    (["evaluate", "run", "--seed", "-1"], "--seed", "accepted: 0..9223372036854775807"),
    (["evaluate", "run", "--seed", str(2**64)], "--seed", "accepted: 0.."),
    (["evaluate", "run", "--mc-samples", "10001"], "--mc-samples", "accepted: 1..10000"),
    (["predict", "run", "--input", "x.npz", "--seed", "-5"], "--seed", "accepted: 0.."),
    (["predict", "run", "--input", "x.npz", "--batch-size", HUGE], "--batch-size", "accepted: 1.."),
    (["predict", "run", "--input", "x.npz", "--mc-samples", HUGE], "--mc-samples", "accepted: 1..10000"),
    (["export", "run", "--threads", "1000"], "--threads", "accepted: 1..256"),
    (["export", "run", "--repeats", HUGE], "--repeats", "accepted: 1.."),
    (["lr-find", "c.yaml", "--steps", HUGE], "--steps", "accepted: 10.."),
    (["lr-find", "c.yaml", "--repeats", HUGE], "--repeats", "accepted: 1..9223372036854775807"),
    (["sweep", "c.yaml", "--space", "s.yaml", "--trials", HUGE], "--trials", "accepted: 1.."),
    (["sweep", "c.yaml", "--space", "s.yaml", "--trials", "1", "--jobs", "1000"], "--jobs", "accepted: 1..256"),
    (["sweep", "c.yaml", "--space", "s.yaml", "--trials", "1", "--seed", str(2**32)], "--seed", "below 2**32"),
    (["diagnose", "c.yaml", "--batches", HUGE], "--batches", "accepted: 1.."),
    (["diagnose", "c.yaml", "--batches", "0"], "--batches", "accepted: 1.."),
    (["recommend", "--classes", HUGE], "--classes", "accepted: 2.."),
    (["study", "init", "--seeds", "100000"], "--seeds", "accepted: 1..10000"),
    (["study", "init", "--jobs", HUGE], "--jobs", "accepted: 1..256"),
    (["study", "init", "--epochs", "1.5"], "--epochs", "expected a whole number"),
    (["study", "selu-deep", "--depth", "5000"], "--depth", "accepted: 1..1000"),
    (["study", "mc-dropout", "--mc-samples", "99999"], "--mc-samples", "accepted: 1..10000"),
]


@pytest.mark.parametrize("argv, option, accepted", CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES])
def test_out_of_range_numbers_are_one_line_naming_the_option(capsys, argv, option, accepted):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"argument {option}: " in err and accepted in err, err
    assert len(err) < 300
