"""A memo cache keyed on class attributes, dropped when the class or any base changes.

`price(item)` reads `type(item).rate` and `type(item).discount` through the MRO. The
cache holds one depwatch unit per class it has seen; CPython's type watcher (fanned
out to subclasses) kills the unit when the class or a base is modified, and the cache
entry goes with it.

Run: python examples/memo_cache.py
"""

import depwatch

registry = depwatch.Registry()


class PriceCache:
    def __init__(self):
        self.entries = {}  # class -> (unit, {argument: result})
        self.hits = self.misses = self.drops = 0

    def price(self, item, qty):
        cls = type(item)
        entry = self.entries.get(cls)
        if entry is None or not entry[0].valid:
            if entry is not None:
                self.drops += 1
            unit = registry.unit([(cls, "rate"), (cls, "discount")])
            entry = self.entries[cls] = (unit, {})
        memo = entry[1]
        if qty in memo:
            self.hits += 1
            return memo[qty]
        self.misses += 1
        result = memo[qty] = qty * cls.rate - cls.discount
        return result


class Base:
    rate = 10
    discount = 1


class Widget(Base):
    pass


class Gadget(Widget):
    discount = 3


def main():
    cache = PriceCache()
    items = [Widget(), Gadget()]
    first = [cache.price(i, q) for i in items for q in (1, 2, 3)]
    again = [cache.price(i, q) for i in items for q in (1, 2, 3)]
    assert first == again == [9, 19, 29, 7, 17, 27]
    assert (cache.hits, cache.misses) == (6, 6)

    Base.rate = 100  # a base changes: both subclasses' entries must go
    after = [cache.price(i, q) for i in items for q in (1, 2, 3)]
    assert after == [99, 199, 299, 97, 197, 297], after
    assert cache.drops == 2

    Gadget.discount = 0  # only Gadget (and its subclasses) change
    last = [cache.price(i, 1) for i in items]
    assert last == [99, 100]
    assert cache.drops == 3
    print("memo cache: hits", cache.hits, "misses", cache.misses, "drops", cache.drops)
    print("every result matched a fresh computation after each class change")


if __name__ == "__main__":
    main()
