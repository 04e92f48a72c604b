"""Paired and one-sample 95% t intervals, verdicts, and the claims a study's rows are checked against."""

import math

import pytest

from dnnconf.studies.claims import Claim, against_published, compare, comparison_lines, glance_cells
from dnnconf.studies.framework import Variant
from dnnconf.studies.stats import one_sample, paired_difference, signed_interval, t_interval, verdict

HALF = 4.302653 * 0.01 / math.sqrt(3)  # t(0.975, 2 df) · s / √n with s = 0.01, n = 3, by hand (t from a table)


def test_paired_difference_by_hand():
    interval = paired_difference([0.80, 0.82, 0.81], [0.83, 0.84, 0.85])  # differences .03 .02 .04
    assert (interval.n, interval.mean, interval.std) == (3, pytest.approx(0.03), pytest.approx(0.01))
    assert (interval.low, interval.high) == (pytest.approx(0.03 - HALF), pytest.approx(0.03 + HALF))
    assert 0.03 - HALF == pytest.approx(0.005158, abs=1e-6)


def test_one_sample_against_a_published_number_by_hand():
    interval = one_sample([0.90, 0.91, 0.92], 0.87)  # differences .03 .04 .05
    assert (interval.low, interval.high) == (pytest.approx(0.04 - HALF), pytest.approx(0.04 + HALF))


def test_no_interval_below_two_values():
    assert math.isnan(t_interval([0.5]).low) and t_interval([0.5]).mean == 0.5
    assert verdict(t_interval([0.5]), "higher") == "not resolved at 1 seed"
    assert math.isnan(t_interval([]).mean) and signed_interval(t_interval([])) == "–"


@pytest.mark.parametrize("values, reference, expect, tolerance, said", [
    ([0.83, 0.84, 0.85], 0.80, "higher", 0, "agrees"),
    ([0.83, 0.84, 0.85], 0.80, "lower", 0, "disagrees"),
    ([0.77, 0.76, 0.75], 0.80, "lower", 0, "agrees"),
    ([0.77, 0.76, 0.75], 0.80, "higher", 0, "disagrees"),
    ([0.87, 0.88, 0.86], 0.87, "higher", 0, "not resolved at 3 seeds"),
    ([0.871, 0.872, 0.873], 0.872, "within", 0.01, "agrees"),  # interval ±0.0025 inside ±0.01
    ([0.87, 0.88, 0.86], 0.87, "within", 0.01, "not resolved at 3 seeds"),  # ±0.0248 straddles ±0.01
    ([0.90, 0.91, 0.92], 0.87, "within", 0.01, "disagrees"),  # [+0.015, +0.065]: wholly above +0.01
])
def test_verdicts(values, reference, expect, tolerance, said):
    assert verdict(one_sample(values, reference), expect, tolerance) == said


def test_an_unknown_expectation_is_refused():
    with pytest.raises(ValueError, match="expect: 'bigger'"):
        verdict(t_interval([1.0, 2.0]), "bigger")


def rows_of(variant, values, metric="test_accuracy", epochs=10):
    return [{"variant": variant, "seed": seed, metric: value, "diverged": 0, "epochs_run": epochs}
            for seed, value in enumerate(values)]


def test_compare_pairs_by_seed_and_skips_absent_variants():
    rows = rows_of("a", [0.80, 0.82, 0.81]) + rows_of("b", [0.83, 0.84, 0.85])[::-1]  # rows in another order
    claims = [Claim("b beats a", "b", "a"), Claim("c beats a", "c", "a")]
    (only,) = compare(claims, [], rows)
    assert only.interval.mean == pytest.approx(0.03) and only.interval.std == pytest.approx(0.01)
    assert only.verdict == "agrees" and only.reference == "a"


def test_compare_two_columns_of_the_same_runs_pairs_them_by_seed():
    rows = [{"variant": "a", "seed": seed, "test_nll": plain, "mc_test_nll": mc, "diverged": 0, "epochs_run": 10}
            for seed, (plain, mc) in enumerate([(0.40, 0.37), (0.50, 0.46), (0.30, 0.28)])]
    (result,) = compare([Claim("MC lowers the NLL", "a", "a", "lower", "mc_test_nll", baseline_metric="test_nll")],
                        [], rows)
    assert result.interval.mean == pytest.approx(-0.03) and result.interval.n == 3
    assert result.reference == "a (test NLL)" and result.verdict == "agrees"


def test_compare_with_the_published_number_of_the_variant():
    variants = [Variant("adam", {}, {}, published=0.87), Variant("sgd", {}, {})]
    claims = against_published(variants, "the table")
    assert claims == [Claim("the table", "adam", None, "within", "final_val_accuracy", 0.01)]
    (result,) = compare(claims, variants, rows_of("adam", [0.90, 0.91, 0.92], "final_val_accuracy"))
    assert result.reference == "published 0.8700" and result.verdict == "disagrees"
    assert compare(claims, [Variant("adam", {}, {})], rows_of("adam", [0.9, 0.9])) == []  # none for this dataset


def test_a_verdict_a_censored_run_could_reverse_is_withheld():
    # epochs to target, budget 10: random never reached it in seed 4 (counted as 10, a lower bound: it can only
    # make "sooner" larger, so the verdict stands); when he also never reached it there, he's true epochs may
    # be more than random's, so "sooner" is withheld
    random = rows_of("random", [8.0, 8.1, 8.0, 8.2, None], "epochs_to_target")
    he = rows_of("he", [3.0, 3.1, 3.0, 3.2, 3.1], "epochs_to_target")
    claim = Claim("he is faster", "he", "random", "lower", "epochs_to_target")
    (safe,) = compare([claim], [], random + he)
    assert safe.verdict == "agrees" and safe.censored == 1
    he[4]["epochs_to_target"] = None  # differences −5, −5, −5, −5, 0: the interval is below 0
    (unsafe,) = compare([claim], [], random + he)
    assert unsafe.interval.high < 0 and unsafe.verdict == "not resolved at 5 seeds (censored)"


def test_markdown_lines_and_glance():
    rows = rows_of("a", [0.80, 0.82, 0.81]) + rows_of("b", [0.83, 0.84, 0.85]) + rows_of("c", [0.81, 0.80, 0.82])
    comparisons = compare([Claim("better than a", "b", "a"), Claim("better than a", "c", "a")], [], rows)
    lines = comparison_lines(comparisons)
    assert "**The note: better than a**" in lines
    assert f"| b | a | test acc | > 0 | 3 | +0.0300 [{0.03 - HALF:+.4f}, {0.03 + HALF:+.4f}] | agrees |" in lines
    assert glance_cells(comparisons) == [("better than a", "2 comparisons, n = 3; agree: b",
                                          "1 agrees, 1 not resolved")]
    assert glance_cells(comparisons[:1])[0][1] == f"b vs a: +0.0300 [{0.03 - HALF:+.4f}, {0.03 + HALF:+.4f}] (n = 3)"


def test_published_numbers_are_judged_only_on_the_whole_training_set(tmp_path):
    from pathlib import Path

    from dnnconf.studies.framework import Options, Study
    from dnnconf.studies.report import judged_claims, summary_lines

    variants = [Variant("sgd", {"optimizer": "sgd"}), Variant("adam", {"optimizer": "adam"}, published=0.87)]
    study = Study("toy", "toy", {}, variants, published_source="a book",
                  claims=[Claim("adam beats sgd", "adam", "sgd"), *against_published(variants, "the table")])
    rows = [{**row, "optimizer": row["variant"], "final_val_accuracy": value, "best_val_accuracy": value,
             "epochs_to_target": None, "seconds_per_epoch": 1.0, "folder": str(tmp_path)}
            for variant, values in (("sgd", [0.80, 0.81, 0.82]), ("adam", [0.87, 0.88, 0.86]))
            for row, value in zip(rows_of(variant, values), values, strict=True)]
    whole = Options(seeds=3, epochs=1, dataset="fashion_mnist", train_size=None, out=Path(tmp_path), jobs=1,
                    quick=False)
    subset = Options(**{**whole.__dict__, "train_size": 10000})
    assert [c.baseline for c in judged_claims(study, whole)] == ["sgd", None]
    assert [c.baseline for c in judged_claims(study, subset)] == ["sgd"]
    text = "\n".join(summary_lines(study, subset, rows))
    assert "| adam | sgd | test acc | > 0 | 3 |" in text and "published 0.8700 |" not in text
    assert "these runs on the first 10,000" in text
    whole_text = "\n".join(summary_lines(study, whole, rows))
    assert "| adam | published 0.8700 | final val acc | within ±0.01 | 3 |" in whole_text
