"""The scripted incident that ``pagerbot demo`` replays: data files, and the generator that made them.

``scenario.yaml`` is the script, ``metrics.csv.gz`` the recorded metrics and ``notifications/`` the
Alertmanager webhook bodies; ``python -m pagerbot.demo.scenario.generate`` rebuilds the last two.
"""
