"""`drn demo`: the synthetic-features demo (`synthetic`) and the from-pixels demo (`video`)."""
