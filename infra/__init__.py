"""Scripts and data of the infrastructure (not installed; run from the checkout)."""
