import pytest

from forecast.data.provenance import numbers_in, parse_refs


@pytest.mark.parametrize(
    "text,figure",
    [
        ("from 823 in 1995 to 6,243 in 2001", 6243),
        ("in Kazakhstan, 70,6; in Kyrgyzstan 16,5", 70.6),
        ("the population is 14.869.021; Kyrgyzstan", 14869021),
        ("2003 100 000 6,300,000 1,59%", 100000),
        ("2003 100 000 6,300,000 1,59%", 1.59),
        ("at least twelve times higher", 12),
        ("one in fifty drug addicts", 50),
        ("more than 5 mt in 2001", 5000),
        ("in 2003, 1080, 5 kg of narcotics", 1080.5),
        ("seized 17 tons 300 kg of various", 17300),
        ("hashish - 164 kg 274 g", 164.274),
    ],
)
def test_numbers_as_the_documents_write_them(text, figure):
    assert any(abs(x - figure) < 1e-9 for x in numbers_in(text))


def test_a_figure_that_is_not_there_is_not_found():
    assert not any(abs(x - 6234) < 1e-9 for x in numbers_in("from 823 in 1995 to 6,243 in 2001"))


def test_refs():
    assert [r.line for r in parse_refs("a.txt:12; b.txt:40")] == [12, 40]
    with pytest.raises(ValueError):
        parse_refs("a.txt line 12")
