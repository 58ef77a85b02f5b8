"""The packaged sample export (offline demo data) and the script that builds it."""
