"""The frontier search on the sweep floor: per method, the sparsest policy that keeps its
return. `levels` (which sparsity targets differ), `bisection` (retained return, probe scores
and the bisection: pure Python over finished trials), `plan` (a config's searches), `searcher`
(the Tune searcher that runs them) and `conclusion` (the frontier printed and logged). Its
MLflow record is rayprune/store/frontier_record.py, one floor down."""
