"""End-to-end pipeline, benchmarks and paper reproduction."""
