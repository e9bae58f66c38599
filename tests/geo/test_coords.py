"""Tests of chargemesh.geo.coords against known point pairs from independent implementations.

Where the reference pairs come from
-----------------------------------
The expected values below were computed once, outside this repository, with three independent
public implementations installed in a throwaway venv (they are NOT dependencies of chargemesh and
this test does not import them)::

    python3 -m venv /tmp/coordref
    /tmp/coordref/bin/pip install prcoords==1.0.2 coordtransform==0.2.1 eviltransform==0.1.1

and the values written down are those of ``prcoords`` 1.0.2 (CC0), called with
``prcoords.Coords(lat, lon)`` (note its (lat, lon) order):

* WGS84_TO_GCJ02: ``prcoords.wgs_gcj`` — identical bit for bit to ``coordTransform`` 0.2.1
  ``wgs84_to_gcj02(lon, lat)`` (its C extension) on every point. ``eviltransform`` 0.1.1
  ``wgs2gcj`` differs by at most 1.2e-7° (1.3 cm), because it uses the WGS-84 radius 6378137 m
  where the others (and we) use the Krasovsky 6378245 m.
* GCJ02_TO_WGS84: ``prcoords.gcj_wgs_bored`` (exact iterative inverse); its result maps back
  through coordTransform's forward function to within 1e-8° of the input, which is why these pairs
  are checked to 2e-8° (2 mm). ``eviltransform.gcj2wgs_exact`` (bisection, 1e-6° threshold) agrees
  to 1.04e-6°; ``coordTransform.gcj02_to_wgs84`` is only the one-step approximation (up to
  2.5 m off).
* BD09_TO_GCJ02 / GCJ02_TO_BD09: ``prcoords.bd_gcj`` / ``gcj_bd``; coordTransform and eviltransform
  agree to 1.4e-14°.

Inputs are approximate WGS-84 positions of the landmarks; for the GCJ-02 -> WGS-84 and BD-09 ->
GCJ-02 pairs the same numbers are used as GCJ-02 / BD-09 inputs (any point will do for testing a
conversion). All coordinates are (lon, lat).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from chargemesh.geo.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    gcj02_to_wgs84_array,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
    wgs84_to_gcj02_array,
)

LonLat = tuple[float, float]

# ------------------------------------------------------------- reference data (prcoords 1.0.2)

PLACES: dict[str, LonLat] = {
    "Tiananmen, Beijing": (116.397477, 39.908692),
    "People's Square, Shanghai": (121.473701, 31.230416),
    "Canton Tower, Guangzhou": (113.32452, 23.106414),
    "Tianfu Square, Chengdu": (104.065735, 30.657425),
    "Urumqi": (87.616848, 43.825592),
    "Potala Palace, Lhasa": (91.117212, 29.657589),
    "Central Street, Harbin": (126.61781, 45.77322),
    "Sanya": (109.511909, 18.252847),
    "Victoria Harbour, Hong Kong": (114.169361, 22.293614),
    "Kashgar": (75.989755, 39.4704),
    "Mohe": (122.5388, 52.9721),
}
WGS84_TO_GCJ02: dict[str, LonLat] = {
    "Tiananmen, Beijing": (116.40372056710368, 39.91009549393981),
    "People's Square, Shanghai": (121.47822405739267, 31.22847374224698),
    "Canton Tower, Guangzhou": (113.32994124543417, 23.103812167618706),
    "Tianfu Square, Chengdu": (104.0682423708191, 30.655003289004558),
    "Urumqi": (87.61969799823531, 43.826797436147594),
    "Potala Palace, Lhasa": (91.11877256351328, 29.654883563097094),
    "Central Street, Harbin": (126.62373697595491, 45.77513597728721),
    "Sanya": (109.51599327140339, 18.251141748703045),
    "Victoria Harbour, Hong Kong": (114.17432653679955, 22.290870971350184),
    "Kashgar": (75.99270984163799, 39.470626891188154),
    "Mohe": (122.54582785688463, 52.97361231483758),
}
GCJ02_TO_WGS84: dict[str, LonLat] = {
    "Tiananmen, Beijing": (116.39123588030364, 39.9072907650213),
    "People's Square, Shanghai": (121.46916326523038, 31.2323452344023),
    "Canton Tower, Guangzhou": (113.31910966215533, 23.109024998563257),
    "Tianfu Square, Chengdu": (104.06323237211039, 30.659849404796073),
    "Urumqi": (87.61400078016457, 43.82438800277849),
    "Potala Palace, Lhasa": (91.11565010065732, 29.660292664282746),
    "Central Street, Harbin": (126.61188976291331, 45.771307792580785),
    "Sanya": (109.50781292561611, 18.254540620927695),
    "Victoria Harbour, Hong Kong": (114.16438181244287, 22.296348331096812),
    "Kashgar": (75.98680983865742, 39.47018196364487),
    "Mohe": (122.53174597512586, 52.97057124310375),
}
BD09_TO_GCJ02: dict[str, LonLat] = {
    "Tiananmen, Beijing": (116.39108625261105, 39.90238198682693),
    "People's Square, Shanghai": (121.46719613101034, 31.22435801798287),
    "Canton Tower, Guangzhou": (113.31799217104783, 23.100552683493156),
    "Tianfu Square, Chengdu": (104.05927580176004, 30.65125575724261),
    "Urumqi": (87.61044533349622, 43.81935916305681),
    "Potala Palace, Lhasa": (91.11069783957187, 29.65159565808452),
    "Central Street, Harbin": (126.61141225390296, 45.766900626427905),
    "Sanya": (109.50534951764439, 18.247161275308315),
    "Victoria Harbour, Hong Kong": (114.16283877737663, 22.28783139452718),
    "Kashgar": (75.98330888712222, 39.464327878602106),
    "Mohe": (122.53241485568368, 52.96580075927849),
}
GCJ02_TO_BD09: dict[str, LonLat] = {
    "Tiananmen, Beijing": (116.4038500005622, 39.9150352984174),
    "People's Square, Shanghai": (121.48023840790201, 31.236350800982365),
    "Canton Tower, Guangzhou": (113.33106131030573, 23.112178402668658),
    "Tianfu Square, Chengdu": (104.07221721027999, 30.663494899953996),
    "Urumqi": (87.62328186107497, 43.831767747482),
    "Potala Palace, Lhasa": (91.12375994672162, 29.66349314130528),
    "Central Street, Harbin": (126.62423472185233, 45.779448681730294),
    "Sanya": (109.51846574504881, 18.258582340587314),
    "Victoria Harbour, Hong Kong": (114.1758984901895, 22.299319509478988),
    "Kashgar": (75.99624493060554, 39.47639848310215),
    "Mohe": (122.54521943588745, 52.97830662560397),
}

OUTSIDE_CHINA: dict[str, LonLat] = {
    "Tokyo Station": (139.767125, 35.681236),
    "Eiffel Tower, Paris": (2.294481, 48.85837),
    "Sydney Opera House": (151.215297, -33.856784),
}

# A forward result must match the reference to this (about 11 µm): far below any formula error,
# far above float64 noise (the three implementations agree to 1e-14° on these conversions).
EXACT_DEG = 1e-10
# prcoords' iterative inverse itself is good to ~1e-8°.
INVERSE_REF_DEG = 2e-8

MEAN_EARTH_RADIUS_M = 6371008.8
# Interior of the China box (0.5° away from its edges), where every round trip must work.
CHINA_INTERIOR = ((72.5, 137.3), (1.3, 55.3))


def haversine_m(a: LonLat, b: LonLat) -> float:
    """Great-circle distance in metres between two (lon, lat) points."""
    lon1, lat1 = a
    lon2, lat2 = b
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * MEAN_EARTH_RADIUS_M * math.asin(math.sqrt(h))


def random_china_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    (lon_lo, lon_hi), (lat_lo, lat_hi) = CHINA_INTERIOR
    return rng.uniform(lon_lo, lon_hi, n), rng.uniform(lat_lo, lat_hi, n)


def assert_close(got: LonLat, want: LonLat, tol_deg: float) -> None:
    assert abs(got[0] - want[0]) <= tol_deg, (got, want)
    assert abs(got[1] - want[1]) <= tol_deg, (got, want)


def assert_arrays_match(
    got: tuple[np.ndarray, np.ndarray], table: dict[str, LonLat], tol_deg: float
) -> None:
    want = np.array(list(table.values()))
    np.testing.assert_allclose(got[0], want[:, 0], rtol=0, atol=tol_deg)
    np.testing.assert_allclose(got[1], want[:, 1], rtol=0, atol=tol_deg)


def place_arrays() -> tuple[np.ndarray, np.ndarray]:
    inputs = np.array(list(PLACES.values()))
    return inputs[:, 0], inputs[:, 1]


# ---------------------------------------------------------------------- known pairs


@pytest.mark.parametrize("name", list(PLACES))
def test_wgs84_to_gcj02_matches_reference(name: str) -> None:
    assert_close(wgs84_to_gcj02(*PLACES[name]), WGS84_TO_GCJ02[name], EXACT_DEG)


@pytest.mark.parametrize("name", list(PLACES))
def test_gcj02_to_wgs84_matches_reference(name: str) -> None:
    got = gcj02_to_wgs84(*PLACES[name])
    assert_close(got, GCJ02_TO_WGS84[name], INVERSE_REF_DEG)
    # And it really inverts the forward shift, much better than the reference does.
    assert_close(wgs84_to_gcj02(*got), PLACES[name], 1e-10)


@pytest.mark.parametrize("name", list(PLACES))
def test_bd09_to_gcj02_matches_reference(name: str) -> None:
    assert_close(bd09_to_gcj02(*PLACES[name]), BD09_TO_GCJ02[name], EXACT_DEG)


@pytest.mark.parametrize("name", list(PLACES))
def test_gcj02_to_bd09_matches_reference(name: str) -> None:
    assert_close(gcj02_to_bd09(*PLACES[name]), GCJ02_TO_BD09[name], EXACT_DEG)


def test_array_versions_match_reference() -> None:
    lons, lats = place_arrays()
    assert_arrays_match(wgs84_to_gcj02_array(lons, lats), WGS84_TO_GCJ02, EXACT_DEG)
    assert_arrays_match(gcj02_to_wgs84_array(lons, lats), GCJ02_TO_WGS84, INVERSE_REF_DEG)


def test_bd09_to_wgs84_goes_through_gcj02() -> None:
    for lon, lat in PLACES.values():
        assert bd09_to_wgs84(lon, lat) == gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
        assert wgs84_to_bd09(lon, lat) == gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


# ---------------------------------------------------------------------- size and direction


def test_tiananmen_shift_is_about_553_m_to_the_north_east() -> None:
    wgs = PLACES["Tiananmen, Beijing"]
    gcj = wgs84_to_gcj02(*wgs)
    # 554.93 m here (tcec.md §11 quotes ≈553 m); a few metres' spread across central Beijing.
    assert 550.0 < haversine_m(wgs, gcj) < 560.0
    assert gcj[0] > wgs[0]
    assert gcj[1] > wgs[1]
    # The inverse moves back by the same amount.
    assert 550.0 < haversine_m(gcj, gcj02_to_wgs84(*gcj)) < 560.0


def test_shift_is_hundreds_of_metres_everywhere_in_china() -> None:
    lons, lats = random_china_points(20_000, seed=7)
    glons, glats = wgs84_to_gcj02_array(lons, lats)
    dist = [
        haversine_m((a, b), (c, d)) for a, b, c, d in zip(lons, lats, glons, glats, strict=True)
    ]
    assert min(dist) > 1.0
    assert max(dist) < 1_000.0


# ---------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", list(PLACES))
def test_round_trip_known_places(name: str) -> None:
    wgs = PLACES[name]
    back = gcj02_to_wgs84(*wgs84_to_gcj02(*wgs))
    assert haversine_m(wgs, back) < 1e-6
    assert_close(back, wgs, 1e-10)


def test_round_trip_random_points_scalar() -> None:
    lons, lats = random_china_points(3_000, seed=1)
    worst = 0.0
    for lon, lat in zip(lons.tolist(), lats.tolist(), strict=True):
        back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
        worst = max(worst, haversine_m((lon, lat), back))
        assert_close(back, (lon, lat), 1e-10)
    assert worst < 1e-6


def test_round_trip_random_points_array() -> None:
    lons, lats = random_china_points(200_000, seed=2)
    back_lons, back_lats = gcj02_to_wgs84_array(*wgs84_to_gcj02_array(lons, lats))
    np.testing.assert_allclose(back_lons, lons, rtol=0, atol=1e-10)
    np.testing.assert_allclose(back_lats, lats, rtol=0, atol=1e-10)
    # 1e-6 m in degrees, conservatively (1° of latitude ≥ 110.5 km; longitude scaled by cos φ).
    np.testing.assert_array_less(np.abs(back_lats - lats) * 110_500.0, 1e-6)
    np.testing.assert_array_less(
        np.abs(back_lons - lons) * 111_400.0 * np.cos(np.radians(lats)), 1e-6
    )


def test_bd09_round_trip() -> None:
    # The customary BD-09 -> GCJ-02 formula is a closed-form approximate inverse: ~2e-6° (0.2 m).
    lons, lats = random_china_points(3_000, seed=3)
    for lon, lat in zip(lons.tolist(), lats.tolist(), strict=True):
        bd = gcj02_to_bd09(lon, lat)
        assert haversine_m((lon, lat), bd) > 500.0  # BD-09 really is a different system
        assert_close(bd09_to_gcj02(*bd), (lon, lat), 3e-6)
        assert_close(gcj02_to_bd09(*bd09_to_gcj02(lon, lat)), (lon, lat), 3e-6)
        assert_close(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat), 3e-6)


# ---------------------------------------------------------------------- outside China


@pytest.mark.parametrize("name", list(OUTSIDE_CHINA))
def test_outside_china_is_not_shifted(name: str) -> None:
    point = OUTSIDE_CHINA[name]
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point
    lons, lats = np.array([point[0]]), np.array([point[1]])
    assert wgs84_to_gcj02_array(lons, lats)[0][0] == point[0]
    assert wgs84_to_gcj02_array(lons, lats)[1][0] == point[1]
    assert gcj02_to_wgs84_array(lons, lats)[0][0] == point[0]
    assert gcj02_to_wgs84_array(lons, lats)[1][0] == point[1]


@pytest.mark.parametrize("name", list(PLACES))
def test_places_are_in_china(name: str) -> None:
    assert not out_of_china(*PLACES[name])


@pytest.mark.parametrize(
    ("lon", "lat", "outside"),
    [
        (72.004, 30.0, False),
        (72.0039, 30.0, True),
        (137.8347, 30.0, False),
        (137.8348, 30.0, True),
        (100.0, 0.8293, False),
        (100.0, 0.8292, True),
        (100.0, 55.8271, False),
        (100.0, 55.8272, True),
    ],
)
def test_out_of_china_box_edges(lon: float, lat: float, outside: bool) -> None:
    assert out_of_china(lon, lat) is outside
    shifted = wgs84_to_gcj02(lon, lat) != (lon, lat)
    assert shifted is not outside
    glons, glats = wgs84_to_gcj02_array([lon], [lat])
    assert (glons[0], glats[0]) == wgs84_to_gcj02(lon, lat)


# ---------------------------------------------------------------------- vectorised == scalar


def test_vectorised_equals_scalar_on_random_points() -> None:
    rng = np.random.default_rng(20240601)
    n = 5_000
    # A box wider than China, so that some points are outside and must stay put.
    lons = rng.uniform(60.0, 150.0, n)
    lats = rng.uniform(-10.0, 65.0, n)
    fwd = wgs84_to_gcj02_array(lons, lats)
    inv = gcj02_to_wgs84_array(lons, lats)
    for i in range(n):
        lon, lat = float(lons[i]), float(lats[i])
        assert_close((float(fwd[0][i]), float(fwd[1][i])), wgs84_to_gcj02(lon, lat), 1e-12)
        assert_close((float(inv[0][i]), float(inv[1][i])), gcj02_to_wgs84(lon, lat), 1e-12)
    outside = np.array([out_of_china(float(a), float(b)) for a, b in zip(lons, lats, strict=True)])
    assert 0 < outside.sum() < n
    assert np.array_equal(fwd[0][outside], lons[outside])
    assert np.array_equal(inv[1][outside], lats[outside])


def test_array_shapes_broadcasting_and_inputs_untouched() -> None:
    lons = np.array([[116.397477, 121.473701], [139.767125, 2.294481]])
    lats = np.array([[39.908692, 31.230416], [35.681236, 48.85837]])
    lons_before, lats_before = lons.copy(), lats.copy()
    for convert in (wgs84_to_gcj02_array, gcj02_to_wgs84_array):
        out_lons, out_lats = convert(lons, lats)
        assert out_lons.shape == out_lats.shape == (2, 2)
        assert out_lons.dtype == out_lats.dtype == np.float64
        assert np.array_equal(lons, lons_before)
        assert np.array_equal(lats, lats_before)
    # Lists and scalars broadcast like numpy arrays.
    out_lons, out_lats = wgs84_to_gcj02_array([116.397477, 116.5], 39.908692)
    assert out_lons.shape == (2,)
    assert_close((out_lons[0], out_lats[0]), WGS84_TO_GCJ02["Tiananmen, Beijing"], EXACT_DEG)
    empty = gcj02_to_wgs84_array(np.array([]), np.array([]))
    assert empty[0].shape == empty[1].shape == (0,)


def test_nan_passes_through() -> None:
    assert all(math.isnan(v) for v in wgs84_to_gcj02(math.nan, 30.0))
    assert all(math.isnan(v) for v in gcj02_to_wgs84(math.nan, 30.0))
    lons, lats = gcj02_to_wgs84_array([math.nan, 116.397477], [30.0, 39.908692])
    assert math.isnan(lons[0])
    assert math.isnan(lats[0])
    assert_close((lons[1], lats[1]), GCJ02_TO_WGS84["Tiananmen, Beijing"], INVERSE_REF_DEG)
