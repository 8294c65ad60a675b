"""Writes examples/data/travel-qa.jsonl (chat) and travel-faq.jsonl (instruction): examples
for a travel agency's assistant.

The facts below were written for this project; the questions and answers are composed
from them with a fixed seed, so the file is reproducible: python examples/make_travel_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SYSTEM = "You are a friendly travel agent. Answer briefly and concretely."

# city: (country, best season, sights, food, getting around, budget tip)
FACTS = {
    "Lisbon": ("Portugal", "spring and early autumn", "the Alfama quarter and Belem Tower",
               "pasteis de nata and grilled sardines", "tram 28 and the metro",
               "buy a Viva Viagem card for cheap rides"),
    "Porto": ("Portugal", "May to September", "the Ribeira riverfront and Livraria Lello",
              "francesinha and port wine", "walking and the metro",
              "many port cellars offer low-cost tastings"),
    "Rome": ("Italy", "April to June", "the Colosseum and the Vatican Museums",
             "cacio e pepe and supplì", "walking, buses and metro line A",
             "book the Colosseum online to skip the queue"),
    "Florence": ("Italy", "April and October", "the Uffizi Gallery and the Duomo",
                 "bistecca alla fiorentina and gelato", "walking in the compact centre",
                 "the Firenze Card pays off if you visit many museums"),
    "Paris": ("France", "late spring", "the Louvre and Montmartre",
              "croissants, crepes and steak frites", "the metro and Velib bikes",
              "many museums are free on the first Sunday of the month"),
    "Barcelona": ("Spain", "May and June", "the Sagrada Familia and Park Guell",
                  "tapas and paella", "the metro and walking",
                  "the Hola Barcelona card covers unlimited transport"),
    "Seville": ("Spain", "March to May", "the Alcazar and the cathedral",
                "tapas and gazpacho", "walking and trams",
                "visit in spring to avoid the summer heat"),
    "Amsterdam": ("the Netherlands", "April and May", "the canals and the Rijksmuseum",
                  "stroopwafels and herring", "bikes and trams",
                  "rent a bike for a day instead of taking taxis"),
    "Berlin": ("Germany", "May to September", "the Brandenburg Gate and Museum Island",
               "currywurst and doner kebab", "the U-Bahn and S-Bahn",
               "the Berlin WelcomeCard includes transport and discounts"),
    "Prague": ("Czechia", "spring and autumn", "Charles Bridge and Prague Castle",
               "svickova and trdelnik", "trams and walking",
               "eat lunch menus, which cost far less than dinner"),
    "Vienna": ("Austria", "April to October", "Schonbrunn Palace and St Stephen's Cathedral",
               "Wiener schnitzel and Sachertorte", "the U-Bahn and trams",
               "standing tickets at the State Opera cost only a few euros"),
    "Budapest": ("Hungary", "spring and autumn", "the thermal baths and the Parliament",
                 "goulash and langos", "trams and the metro",
                 "tram 2 along the Danube is a cheap sightseeing ride"),
    "Athens": ("Greece", "April to June", "the Acropolis and the Plaka district",
               "souvlaki and moussaka", "the metro and walking",
               "a combined ticket covers the Acropolis and six other sites"),
    "Santorini": ("Greece", "May, June and September", "the sunsets of Oia and the caldera",
                  "fava and fresh seafood", "local buses and quad bikes",
                  "stay in Fira instead of Oia for lower prices"),
    "Dubrovnik": ("Croatia", "May, June and September", "the city walls and the old town",
                  "black risotto and oysters", "walking and local buses",
                  "walk the walls early in the morning to avoid crowds"),
    "Reykjavik": ("Iceland", "June to August for daylight, winter for northern lights",
                  "the Golden Circle and the Blue Lagoon", "lamb soup and skyr",
                  "rental cars and tour buses", "groceries from Bonus keep food costs down"),
    "Oslo": ("Norway", "June to August", "the Viking Ship Museum and the Opera House",
             "salmon and brown cheese", "trams, the metro and ferries",
             "the Oslo Pass includes museums and public transport"),
    "Stockholm": ("Sweden", "June to August", "Gamla Stan and the Vasa Museum",
                  "meatballs and cinnamon buns", "the metro and ferries",
                  "the metro stations double as a free art gallery"),
    "Copenhagen": ("Denmark", "May to August", "Nyhavn and Tivoli Gardens",
                   "smorrebrod and pastries", "bikes and the metro",
                   "the harbour buses are part of the normal public transport"),
    "Edinburgh": ("Scotland", "May to September", "the castle and the Royal Mile",
                  "haggis and shortbread", "walking and buses",
                  "climb Arthur's Seat for a free view of the city"),
    "Dublin": ("Ireland", "May to September", "Trinity College and Temple Bar",
               "Irish stew and soda bread", "buses, the Luas tram and walking",
               "many national museums are free"),
    "Istanbul": ("Turkey", "April, May, September and October",
                 "Hagia Sophia and the Grand Bazaar", "kebabs, meze and baklava",
                 "trams, ferries and the metro", "the Istanbulkart works on every transport"),
    "Marrakech": ("Morocco", "March to May and October", "Jemaa el-Fnaa and the Majorelle "
                  "Garden", "tagine and mint tea", "walking and petit taxis",
                  "agree on taxi fares before you get in"),
    "Cairo": ("Egypt", "October to April", "the pyramids of Giza and the Egyptian Museum",
              "koshari and falafel", "the metro and ride-hailing apps",
              "visit the pyramids at opening time to avoid heat and crowds"),
    "Cape Town": ("South Africa", "November to March", "Table Mountain and the Cape of "
                  "Good Hope", "bobotie and braai", "ride-hailing apps and the MyCiTi bus",
                  "hike up Table Mountain instead of paying for the cable car"),
    "Kyoto": ("Japan", "late March to early April and November", "Fushimi Inari and the "
              "Kinkaku-ji temple", "kaiseki and matcha sweets", "buses and trains",
              "a one-day bus pass covers most temples"),
    "Tokyo": ("Japan", "March to May and October to November", "Shibuya Crossing and the "
              "Senso-ji temple", "sushi and ramen", "the metro and JR lines",
              "a Suica card makes every train ride simple"),
    "Seoul": ("South Korea", "April to June and September to November",
              "Gyeongbokgung Palace and Bukchon Hanok Village", "bibimbap and Korean "
              "barbecue", "the subway", "a T-money card gives transfer discounts"),
    "Bangkok": ("Thailand", "November to February", "the Grand Palace and Wat Arun",
                "pad thai and mango sticky rice", "the BTS Skytrain and river boats",
                "street food is delicious and very cheap"),
    "Hanoi": ("Vietnam", "October to April", "the Old Quarter and Hoan Kiem Lake",
              "pho and bun cha", "walking and ride-hailing motorbikes",
              "eat where locals queue for the best value"),
    "Singapore": ("Singapore", "February to April", "Gardens by the Bay and Marina Bay",
                  "chicken rice and chilli crab", "the MRT",
                  "hawker centres serve great meals for a few dollars"),
    "Bali": ("Indonesia", "April to October", "the rice terraces of Ubud and Uluwatu Temple",
             "nasi goreng and babi guling", "hired drivers and scooters",
             "stay in Ubud or Canggu for good value guesthouses"),
    "Sydney": ("Australia", "September to November and March to May", "the Opera House and "
               "Bondi Beach", "meat pies and fresh seafood", "trains, buses and ferries",
               "the Manly ferry is a cheap harbour cruise"),
    "Queenstown": ("New Zealand", "December to February and June to August for skiing",
                   "Milford Sound and the Remarkables", "Fergburger and lamb",
                   "shuttles and rental cars", "book Milford Sound tours early in summer"),
    "New York": ("the United States", "April to June and September to November",
                 "Central Park and the Metropolitan Museum", "bagels and pizza",
                 "the subway", "walk the High Line and the Brooklyn Bridge for free"),
    "San Francisco": ("the United States", "September and October", "the Golden Gate "
                      "Bridge and Alcatraz", "sourdough and burritos", "cable cars, "
                      "buses and BART", "book Alcatraz tickets weeks ahead"),
    "Mexico City": ("Mexico", "March to May", "the Zocalo and Teotihuacan",
                    "tacos al pastor and mole", "the metro and ride-hailing apps",
                    "the metro is one of the cheapest in the world"),
    "Cusco": ("Peru", "May to September", "Machu Picchu and the Sacred Valley",
              "ceviche and lomo saltado", "trains to Aguas Calientes and colectivos",
              "spend two days adjusting to the altitude"),
    "Buenos Aires": ("Argentina", "March to May and September to November",
                     "La Boca and the Recoleta Cemetery", "steak and empanadas",
                     "the Subte and buses", "a SUBE card works on all public transport"),
    "Rio de Janeiro": ("Brazil", "December to March", "Christ the Redeemer and Copacabana",
                       "feijoada and acai", "the metro and taxis",
                       "take the train up Corcovado early for clear views"),
}

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
