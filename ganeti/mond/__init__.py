"""mond: the monitoring daemon's data collectors and output formats."""
