import pandas as pd


def total(values):
    return int(pd.Series(values).sum())
