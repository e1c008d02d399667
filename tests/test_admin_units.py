from schemas.admin_units import load, province_codes
from schemas.topics import Topics


def test_the_data_set_of_the_seed_era():
    units = load()
    assert (len(units.provinces), len(units.districts), len(units.communes)) == (63, 696, 10051)


def test_codes_are_zero_padded_and_linked_to_their_parents():
    units = load()
    assert units.province("01").name == "Thành phố Hà Nội"
    assert units.district("001").parent == "01"
    assert units.commune("00001").parent == "001"
    assert units.province_of_district("490") == "48"
    assert units.district_of_commune("20194") == "490"


def test_one_jurisdiction_topic_per_province():
    names = Topics().all_jurisdictions()
    assert len(names) == 63 and names[0] == "complaints.jurisdiction.01"
    assert len(set(province_codes())) == 63
    assert Topics("t1.").jurisdiction("79") == "t1.complaints.jurisdiction.79"
