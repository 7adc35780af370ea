"""Input checks, with errors that name the column, row or argument.

- ``validation``: arrays and parameters (finite values, missing entries, positive integers, scores).
- ``series_input``: a time series (time column, order, steps, missing values).
"""
