"""Hidden hazards (隐患): criteria, lifecycle, files, lists and reports."""
