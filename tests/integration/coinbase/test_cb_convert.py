"""Convert quotes and trades through the adapter against the simulator: USD<->USDC at par without fee,
crypto at the current mid with a 1% fee, one execution per commit, and every refusal typed."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from cb_sim import pin

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.rest import CoinbaseRestClient
from gpt_trader.features.brokerages.core.interfaces import InsufficientFundsError, InvalidOrderError, NotFoundError

pytestmark = pytest.mark.integration


async def wallet_ids(rest: CoinbaseRestClient) -> dict[str, str]:
    return {a.currency: a.uuid for a in await rest.all_accounts()}


async def available(rest: CoinbaseRestClient) -> dict[str, D]:
    return {a.currency: D(a.available_balance.value) for a in await rest.all_accounts()}


async def test_usd_to_usdc_at_par_commits_once(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    sim.fund("USDC", "5")
    rest = broker.rest
    ids = await wallet_ids(rest)
    before = await available(rest)

    quote = await rest.create_convert_quote(ids["USD"], ids["USDC"], D("100.50"))
    assert quote.status == "TRADE_STATUS_CREATED"
    assert (quote.source_currency, quote.target_currency) == ("USD", "USDC")
    assert (D(quote.user_entered_amount.value), D(quote.amount.value)) == (D("100.50"), D("100.50"))
    assert D(quote.total_fee.amount.value) == 0 and D(quote.exchange_rate.value) == 1
    assert await available(rest) == before  # a quote moves nothing

    got = await rest.get_convert_trade(quote.id, ids["USD"], ids["USDC"])
    assert got.id == quote.id and got.status == "TRADE_STATUS_CREATED"
    done = await rest.commit_convert_trade(quote.id, ids["USD"], ids["USDC"])
    assert done.status == "TRADE_STATUS_COMPLETED"
    after = await available(rest)
    assert after["USD"] == before["USD"] - D("100.50") and after["USDC"] == before["USDC"] + D("100.50")

    with pytest.raises(InvalidOrderError) as twice:
        await rest.commit_convert_trade(quote.id, ids["USD"], ids["USDC"])
    assert twice.value.reason == "FAILED_PRECONDITION" and "already committed" in str(twice.value)
    assert await available(rest) == after  # the second commit moved nothing
    assert (await rest.get_convert_trade(quote.id, ids["USD"], ids["USDC"])).status == "TRADE_STATUS_COMPLETED"

    back = await rest.create_convert_quote(ids["USDC"], ids["USD"], "0.5")
    await rest.commit_convert_trade(back.id, ids["USDC"], ids["USD"])
    assert (await available(rest))["USDC"] == before["USDC"] + D("100.00")


async def test_usd_to_btc_at_mid_with_fee(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, "BTC-USD", [("49990", "5")], [("50010", "5")])  # mid 50000
    rest = broker.rest
    ids = await wallet_ids(rest)
    before = await available(rest)
    quote = await rest.create_convert_quote(ids["USD"], ids["BTC"], D("1000"))
    assert D(quote.total_fee.amount.value) == D("10") and quote.total_fee.amount.currency == "USD"
    assert D(quote.subtotal.value) == D("990")
    assert D(quote.amount.value) == D("0.0198") and quote.amount.currency == "BTC"
    await rest.commit_convert_trade(quote.id, ids["USD"], ids["BTC"])
    after = await available(rest)
    assert after["USD"] == before["USD"] - D("1000")
    assert after["BTC"] == before.get("BTC", D(0)) + D("0.0198")

    sell = await rest.create_convert_quote(ids["BTC"], ids["USD"], D("0.0198"))
    assert D(sell.amount.value) == D("980.10")  # 0.0198 - 1% = 0.019602 BTC at 50000
    await rest.commit_convert_trade(sell.id, ids["BTC"], ids["USD"])
    assert (await available(rest))["USD"] == before["USD"] - D("19.90")


async def test_convert_refusals_are_typed(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    sim.fund("USDC", "5")
    rest = broker.rest
    ids = await wallet_ids(rest)
    usd = (await available(rest))["USD"]

    with pytest.raises(InsufficientFundsError) as poor:
        await rest.create_convert_quote(ids["USD"], ids["USDC"], usd + 1)
    assert poor.value.reason == "INSUFFICIENT_FUND"
    with pytest.raises(InvalidOrderError) as same:
        await rest.create_convert_quote(ids["USD"], ids["USD"], D("1"))
    assert same.value.reason == "INVALID_ARGUMENT"
    for bad in ("0", "-1", "ten"):
        with pytest.raises(InvalidOrderError) as err:
            await rest.create_convert_quote(ids["USD"], ids["USDC"], bad)
        assert err.value.reason == "INVALID_ARGUMENT" and "amount" in str(err.value)
    with pytest.raises(NotFoundError):
        await rest.create_convert_quote(ids["USD"], "00000000-0000-0000-0000-000000000000", D("1"))
    with pytest.raises(NotFoundError):
        await rest.get_convert_trade("no-such-trade", ids["USD"], ids["USDC"])
    with pytest.raises(NotFoundError):
        await rest.commit_convert_trade("no-such-trade", ids["USD"], ids["USDC"])

    # funds spent between quote and commit: checked again at commit (each quote is for all the USDC)
    usdc = (await available(rest))["USDC"]
    quote = await rest.create_convert_quote(ids["USDC"], ids["USD"], usdc)
    other = await rest.create_convert_quote(ids["USDC"], ids["USD"], usdc)
    await rest.commit_convert_trade(other.id, ids["USDC"], ids["USD"])
    with pytest.raises(InsufficientFundsError):
        await rest.commit_convert_trade(quote.id, ids["USDC"], ids["USD"])
    with pytest.raises(NotFoundError):  # the accounts must be the quote's own
        await rest.commit_convert_trade(quote.id, ids["USD"], ids["USDC"])

    # an expired quote is canceled, never executed
    stale = await rest.create_convert_quote(ids["USD"], ids["USDC"], D("1"))
    sim.clock.advance(31)
    before = await available(rest)
    with pytest.raises(InvalidOrderError) as expired:
        await rest.commit_convert_trade(stale.id, ids["USD"], ids["USDC"])
    assert expired.value.reason == "FAILED_PRECONDITION" and "expired" in str(expired.value)
    assert (await rest.get_convert_trade(stale.id, ids["USD"], ids["USDC"])).status == "TRADE_STATUS_CANCELED"
    assert await available(rest) == before
