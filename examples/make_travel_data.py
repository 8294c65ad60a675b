"""Writes examples/data/travel-qa.jsonl (chat) and travel-faq.jsonl (instruction): examples
for a travel agency's assistant.

The facts (in llmops.training.tinytravel.corpus, which the built-in base model is
pre-trained on) were written for this project; the questions and answers are composed
from them with a fixed seed, so the file is reproducible: python examples/make_travel_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from llmops.training.tinytravel.corpus import FACTS

SYSTEM = "You are a friendly travel agent. Answer briefly and concretely."

QUESTIONS = [
    ("season", ["When is the best time to visit {city}?", "What is the best season for {city}?",
                "Which months are best for a trip to {city}?"],
     "The best time to visit {city} is {season}."),
    ("sights", ["What should I see in {city}?", "What are the must-see sights in {city}?",
                "I have two days in {city}. What should I visit?"],
     "In {city}, do not miss {sights}."),
    ("food", ["What should I eat in {city}?", "Which local dishes should I try in {city}?",
              "What is the food like in {city}?"],
     "In {city}, try {food}."),
    ("transport", ["How do I get around {city}?", "What is the best way to move around "
                   "{city}?", "Is public transport good in {city}?"],
     "The easiest way to get around {city} is {transport}."),
    ("budget", ["How can I save money in {city}?", "Any budget tips for {city}?",
                "Is {city} expensive? How can I spend less?"],
     "A good tip for {city}: {budget}."),
    ("country", ["Which country is {city} in?", "Where is {city}?"],
     "{city} is in {country}."),
]


def pairs(seed: int) -> list[tuple[str, str]]:
    """Every (question, answer) the facts give, in a seeded order."""
    out = []
    for city, (country, season, sights, food, transport, budget) in FACTS.items():
        values = {"city": city, "country": country, "season": season, "sights": sights,
                  "food": food, "transport": transport, "budget": budget}
        for _, questions, answer in QUESTIONS:
            out += [(q.format(**values), answer.format(**values)) for q in questions]
    random.Random(seed).shuffle(out)
    return out


def rows(seed: int = 7) -> list[dict[str, object]]:
    return [{"messages": [{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": q},
                          {"role": "assistant", "content": a}]} for q, a in pairs(seed)]


def faq_rows() -> list[dict[str, object]]:
    """The same questions as instruction rows (prompt, response), for few-shot examples."""
    return [{"prompt": q, "response": a} for q, a in pairs(seed=11)]


def write(path: Path, data: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data))
    print(f"wrote {path}")


if __name__ == "__main__":
    folder = Path(__file__).parent / "data"
    write(folder / "travel-qa.jsonl", rows())
    write(folder / "travel-faq.jsonl", faq_rows())
