"""Geohash decoding and an integer distance approximation.

Distances feed filters ("within 5 km") and rankings, which must be identical on every node,
so everything here is integer arithmetic: coordinates are micro-degrees, the cosine of the
latitude uses Bhaskara I's rational approximation, and the distance is an equirectangular
approximation with an integer square root. Error: under ~0.2 % from the cosine, plus the
equirectangular error (small below a few hundred km; good enough for "near me" rankings).
"""

from __future__ import annotations

from math import isqrt
from typing import NamedTuple

from .schema import GEOHASH_ALPHABET

_INDEX = {c: i for i, c in enumerate(GEOHASH_ALPHABET)}
MICRO = 1_000_000
# metres per degree of a great circle on the mean Earth sphere (R = 6371.0088 km)
METRES_PER_DEGREE = 111_195


class Point(NamedTuple):
    lat: int  # micro-degrees
    lon: int  # micro-degrees


def decode(geohash: str) -> Point:
    """Centre of a geohash cell, in micro-degrees (floored)."""
    lat_bits = lon_bits = 0
    lat = lon = 0
    even = True  # geohash interleaves bits starting with longitude
    for ch in geohash:
        value = _INDEX[ch]
        for shift in range(4, -1, -1):
            bit = (value >> shift) & 1
            if even:
                lon, lon_bits = (lon << 1) | bit, lon_bits + 1
            else:
                lat, lat_bits = (lat << 1) | bit, lat_bits + 1
            even = not even
    # cell index k of 2^n cells over a span S: centre = -S/2 + (2k + 1) * S / 2^(n+1)
    lat_c = -90 * MICRO + ((2 * lat + 1) * 180 * MICRO >> (lat_bits + 1))
    lon_c = -180 * MICRO + ((2 * lon + 1) * 360 * MICRO >> (lon_bits + 1))
    return Point(lat_c, lon_c)


def cos_ratio(lat_micro: int) -> tuple[int, int]:
    """cos(latitude) as (num, den) by Bhaskara I: cos x = (32400 - 4x^2) / (32400 + x^2),
    x in degrees, |x| <= 90."""
    x2 = lat_micro * lat_micro
    scale = 32400 * MICRO * MICRO
    return scale - 4 * x2, scale + x2


def distance_m(a: Point, b: Point) -> int:
    """Approximate distance in whole metres between two points (integer math only)."""
    dlat = abs(a.lat - b.lat)
    dlon = abs(a.lon - b.lon)
    if dlon > 180 * MICRO:
        dlon = 360 * MICRO - dlon
    num, den = cos_ratio((a.lat + b.lat) // 2)
    dy = dlat * METRES_PER_DEGREE
    dx = dlon * METRES_PER_DEGREE * num // den
    return isqrt(dx * dx + dy * dy) // MICRO


def geohash_distance_m(a: str, b: str) -> int:
    return distance_m(decode(a), decode(b))
