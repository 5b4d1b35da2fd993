"""Human units for the report and its figures."""

import math

from tokenplan.reporting.number_format import human, percent, usd


def test_human_units():
    assert human(999) == "999"
    assert human(1_250) == "1,250"
    assert human(12_500) == "12.50K"
    assert human(6_810_000) == "6.81M"
    assert human(15.18e9) == "15.18B"
    assert human(2.5e12, 1) == "2.5T"
    assert human(math.nan) == human(None) == "–"


def test_usd_and_percent():
    assert usd(78_158.4) == "$78,158"
    assert usd(-1_200) == "-$1,200"
    assert usd(2_340_000) == "$2.34M"
    assert percent(0.1749) == "17%"
    assert percent(0.05, 1, signed=True) == "+5.0%"
    assert percent(-0.2, signed=True) == "-20%"
    assert percent(-0.00001, 1, signed=True) == "+0.0%"  # a change that rounds to zero has no minus sign
    assert usd(float("inf")) == percent(None) == "–"


def test_two_numbers_get_the_digits_that_tell_them_apart():
    from tokenplan.reporting.number_format import apart

    assert apart(1.23, 0.98) == ("1.23", "0.98")
    assert apart(1.1032, 1.0987) == ("1.103", "1.099")
    assert apart(1.0, 1.0) == ("1.000000", "1.000000")  # equal: as many digits as allowed, never a loop


def test_a_chance_never_reads_as_certain():
    from tokenplan.reporting.number_format import chance

    assert (chance(0.9999), chance(0.995), chance(0.994), chance(0.45), chance(0.004), chance(0.0)) == (
        ">99%", ">99%", "99%", "45%", "<1%", "<1%")
    assert chance(None) == "–"
