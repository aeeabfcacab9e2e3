"""Pricing: the price book and its layers (`book`), the cost of a row (`cost`), the AWS Price List (`pricelist`).

Pure apart from reading the bundled book and the Price List client it is given.
"""

from generator.pricing.book import Price, PriceBook, PriceEntryError, Quote, load_book, name_key, parse_prices
from generator.pricing.cost import RowCost, cost_of, explain, price_table

__all__ = [
    "Price", "PriceBook", "PriceEntryError", "Quote", "RowCost", "cost_of", "explain", "load_book", "name_key",
    "parse_prices", "price_table",
]  # fmt: skip
