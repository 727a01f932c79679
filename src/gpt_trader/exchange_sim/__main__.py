from gpt_trader.exchange_sim.cli import main

main()
