from tradekit.demo import DemoSetup
from tradekit.store.sqlite import Store


def test_every_cancel_then_place_journals_its_unprotected_time(tmp_path):
    setup = DemoSetup(seed=3, ticks=3000)
    with Store(tmp_path / "s.sqlite") as store:
        engine = setup.engine(store, setup.exchange(), "gap")
        engine.run()
        moves = [
            c
            for c in store.journal(kinds="command")
            if c["type"] == "CancelOrder" and c["payload"]["then"] is not None
        ]
        gaps = [r for r in store.journal(kinds="outcome") if "unprotected_ms" in r["payload"]]
        assert moves and len(gaps) == len(engine.unprotected_s)
        placed_after_cancel = {m["payload"]["then"]["client_order_id"] for m in moves}
        assert {g["payload"]["client_order_id"] for g in gaps} <= placed_after_cancel
        for g in gaps:
            assert g["payload"]["unprotected_ms"] >= 0
            assert g["payload"]["replaces"].startswith("gap-BTC-USD-")
