"""Results as files: statistics, tables, plots, run/study/sweep reports, `compare`, the
study's published figures and when results stand beside them, provenance, run directories."""
