"""seriesbot: mailing-list CI that builds, tests and checks every patch of every series."""

__version__ = "0.1.0"
