"""DCCNN-LSTM-Reg: symmetric diffeomorphic learned registration of brain MRI."""

__version__ = "0.1.0"
