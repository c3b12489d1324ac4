"""Request examples shown on /docs. Each one succeeds against the default models as shipped
(a test runs every one of them against a real server)."""

from __future__ import annotations

from typing import Any

# A real test digit (a 7) from the embedded MNIST sample, 28x28 grey PNG.
DIGIT_7 = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAAcUlEQVR42uWRQQ6AMAgER+PD8GXiy8CX4cGmalUSE2/ujQzdBQr/"
    "UAcghi+AO4C6o1o7LKpUt2KHcZZqgQPAKBPz1ldeTMkkdrC9KAKA/o5JCbmDYs+eEklihCWTxvemkps+Mn0R2J1YUzfn8+Qzmi1W"
    "pzBPT4Sc1B0AAAAASUVORK5CYII="
)
# A serious synthetic face (not smiling, mouth closed, no glasses), 45x45 RGB PNG: the first
# face of trainer.datasets.faces.generate(8, seed=3) (a test keeps it so).
SERIOUS_FACE = (
    "iVBORw0KGgoAAAANSUhEUgAAAC0AAAAtCAIAAAC1eHXNAAAPUUlEQVR4nAXBy891130Q4N9trbX3Pud9P18SO3ZNaJw4VlMEakXc"
    "axpaJFQKLWJAxaQDEEzg30BISIyQ+AMYdsCEGQOkFgRCVCoEQnHSJLZTx7fP+S7vOWfvtdbvxvPgP/773xyVuI9STwm9QbnZsTH1"
    "zIAz2YNJK+kwAgiMCkJKu2FfobKjhueK2zE7J/pi0mN4qQUJc3Saq53cLTgxDQbbubhNpnTHZkwwnVaMPe4IGZYyFykmB043jFXE"
    "AYswoSPJdkSxSkITV1is4s1UDvZ9pEfD4T0HASqO2aMXuV88UcMuIiSjHrgmIrvUtXmb1iT4GucIbTGaMAAIwiRgqJN2xGIZsMTs"
    "yji5YojAXnG5bDyLA+TahkzpuoaXpgXK4dmdWjobeCtbpYWAH5xkZZt3HuGsQKFKnuaHFGkkWO1OkKUKcHqQ1mQAshnuIcgQEjSR"
    "oEAU850nB02+Nb1VcArgPC6KJARMUHSx06M5Uaj4aFFnBnNnj5a+39jvIDOWKaeI+22CYGfNETachLAXpY6mFcDVFCYRgde6RJ+x"
    "kzTy1h1wxUcToCYeVKjsyVEMbHlkSsS1W6Z3sd0fHS4qgWk0sKs48UwksaImmMx68bFPqcSLZQdmlBG7InFPT0lgP7ZVhZgw1XUc"
    "pGuJ7os2IL7Axd120nXxKnd5cOAxYdzzHH2v6NHOnMyzycWz3RgAXRby3SuX7BIcTtwpTsQe5aJQsG4yhSEqBO8EKxKA5d2mYxly"
    "NX2J8bYu5OnQ6q3M0yWEG6Ijsw61GoXrQiUWPCKWNEOKcv/iF1/9q1+FPbTyPM3lqPAwvv/uH1+klgjzWpuHw0FYaK8pbt3HKXCu"
    "XM0CRW2OOJ3GDQtscteqm7JWd6invPq1XBgEWBpizBokByOr8fRofots33jnl7/xzm+yltknLwvkOJzLsFH9rV/7rYcfv/vZw5M/"
    "+9P/NAbRNtlYB22Vel1DoyLxGCnijrxS2Gw1PUy0u7SyiEHmTN6kTFHuDGQxHaKl7GoNu1ceX/uV337rV74lA5rFTU1oc/Xu0ji9"
    "WAoFyPn1t7cvwwtffOO97/7HT3/040QsFMpgI+8qu+bMAsrYJtESQY6S+CC4oh5BICop7mHJK1o1SHbSFtJtWTS1wK/9zj965bU3"
    "9YYV5TCLQhZMaA3yKFOskBmMLlXQ7aWfeeMLL/+T7734R9/90/9aK1oAFMrew2mycltJFyxX0SVTS62U3cpCnonH4dECQzpzkURo"
    "+IKJF8jk+Vt/5w9e/0uvBQstpqi8xGq64PQwzDiDNLIsKzcYMCFkxWT3t//6r/+Nv/37zlBQN5YgngLLWqS7qqaKiiGAM1EBBygH"
    "ui8t+WpYrowRJrhk7ShSuP3N3/7nL/3MmzlaJBTFiZCUc/KwiFyocNrqKeX5tQoVQkl7EkTAqdvrb7z56itfgQDH3Yqz43GgSd+K"
    "OiWFWIMAo8lLGm0F1nSnNSA3U1a0fuQNRembf/f3X379FfWYVJrj0FjHZKy6Irq7IxwdfISjEx0TITFOckpSNiW/KH3zN/7h9sWv"
    "NOeUExYTzjZW5ZObEGibXokJzcwNNI6idQxo3tBTYG4ETPdfeuONF990Iiogaw63DBwr4K4LpDoAqTEadjagbSGgQmzZsZNDClDG"
    "fSH52jd/4wHTVB1RZdE1Q4FL6kpDUvcUiQboeILWNyuA17guDciXwOAJIN/57n9/Y9vOj+4cPAMrID62IYYJi/JeSNNTkEYg1NsY"
    "tOSKDdnYbR9iZX7w8Ue+83KtvhxMJQCAAWHeQfSbAMEQk7bYpdRlpC1p+205v1iGKmcme9LnP/nzp59+8IW3f3add6MjZxnsIFiU"
    "AXbjBgGWgFaJjgeFRxG0iVu4GO14L+UZ6Efvf3A5PuNtMd8AugC7spe8XcxaFGIrSKqwjPDa04Lt/hZDVx2mYKqQGOUeT3ftDd+5"
    "0CqYNbOFWpoW7nEoThAg2RNOZ0EliMOyGulmpe5ZqcKXX3w5gcaY1AGXhOgRUDH0tNRGZLRNog44rODO7SFFnCNtUktRGK7s1F57"
    "Za2gtCXNCaUD0zAqLGWX81xhlhrAvQDss/gsME9kHFqyRjpc1coXXj6d9EXhmNuMIwaGtIHKFFBCjmKOJAsn65Hc4iU8um+0wNiv"
    "J2oXWcVtfXjjSz+vuKflcqfvjVeeP4djBdY6Mn7h/HjtDaYqAzg8t/XzcR/1mFaZ8efXhyG4Pde+1VdeOX3vo8+X8KBTSQ6djgqC"
    "N8Um27QHSYwDrC7IPVduyodA4iUpU7S89FJt3rQFd9Esj6ivKx2Ckt1gtAFGV69b7RoN5Lls63g549oc9QGGsMG8Y7H55qtf+dHj"
    "T9xvlKN1vlGcIG5LbZK3/fqCLeRGjKg3VFi8WEQGcT2xM11lvnz3otONsFC5YvF7ll/6W795ifP9z7799Te+TEjTN1DmwjGXbX3y"
    "rV//1b+I00uvf+2vfO0vq0wvTLvJYNlmWEqsMSLusBBbNFJAoxLrzIPKSUBmLO0oUDqnV/MocJM1K0NwWZaNsAovw/Lmx9d/4Xf/"
    "9b/8Vx988NmrX/76ja+0Dm9+qDvcWuBb73z7X/zbf/Pv/vDfv/N7/wzBQFNg8S24xyu1shmdyG8m4tCCBnYo611PLvgHv/fOuiEc"
    "CkvqXASOnGSC8gjg2fjdb/+qmuyQ5y4IMXB+/Zf/3n/44+984+2XvuDPHn/4AXUYFTkQKsZhP/etb//hH/2fv/aVL7+4PH/2g/dQ"
    "eARydIf2/sc//LPnH5UrO5WkWRSnjmRZko0m/tN/8IsRhnieOpgAEJX2O6xukhS/84u/NEZrqO4aj1qZcGBk8FmOYyzuV6li3hys"
    "FkpA0CMtwzAXYpFxGZhu5XwX/X99+PGPP/8kq4lSqrmIWwoVrDFlEiChS8qxFAAcRL5mdT33sGC0pXC7+t2c66zXoeJ+hMehOUg6"
    "ZgFe0HMqtu461ZCRADdoANHHshHX9Zw6aqOEuSo4K7LflaOMcl8UlCeWTlS6cjPfRYUZVw6GrJbHthjMgD4BUa/QdNWFRWFDvCMS"
    "e7QHyobxzJvM8wqAs5ZgMxuVAHo3uQOFZLCgKTFwi+ZcJkpz6Vrnqkeure7ozEEj2+5ry8TBMGfiPEIZKK9SAIuDIrMuiGX30fY5"
    "F7RYd0SxCjssG6gvBN6p+WgKDKyosOLqTwmwmk1TUSycyFmROrgTsviBavpw1O773khET2xZndOcMamyRCfwpRnw//3sk9IR1jnc"
    "z1jtLNUhuSME4oEiu2hI1wRZDXxvzEKOtIxlZuEWD1g25ACjZ5cuNmfwdAkXK6e2LrKSnZJlp1qnz24olCEiSTNKWckspyOUorjR"
    "IOZiRBQUwxGYaOoZyJunEvF5ARxjKWXxjOSTATBBQZ2jpQyklQp8+vDZjZMF2PSgyLwcdvEkGFyw0VXvIjZ0eF5aHrI6ck/AgbmE"
    "2uOPRiZuUgCrafa5y5ZkSgUGMAc06l0frAdqN1QkcJ8BhVS8rH4HNKIvYBOB76pQD6MQCeQ4i26TkTgtSDAgIkiWVVSa7dnWidoK"
    "zfCKT2/PmdMvYynZi275aKAhpH3weXg4ZOV1s72TrcZdMEpmQX958qwlg6B2irbre09+AqjzIbYT4WCvgalpuRAPoRomDedVstAu"
    "A64sbHvnBQhmHXfYVG7/78d/8faXXplWyq3OU5hyz6nvfkanWO3O+DF0LOvZrlepxRTw5x4t9Uti1xEq5U4okvTJu53HDi+s+7Oz"
    "0E041VKozenFLeQs3rBpCRmUeEd+FOGR6tt99gdKjvbTh46v32XtYzW+YXI5z2V89VUiaIgX3nigueJrry9tqmV9tCTMLtWRbUZK"
    "f37RZ/YUkGPQsnaHzGHoJ8E9fElhIZXePeuKHYAGjVLK9Gp5834OxJLWnx5PP3n45NX15SXQFhdjW6d/9RUMm4Ko91guSQnh2rGS"
    "DcnwlMRKM/3O6vr9z98XyLLKhZCPqQX5WNNv9sJUdda6g1Pl1uS5FDsQF86J3dyXddXRJJN4xak/+vTpTAdb2lU4r+i1eV0WokyX"
    "x9xBDiOWWLznSlGZyD1mbNH65z/dnzy9TBu5U+pBbOs1qSIva/R7mXy6m2slIlMZBQ5bImIMzFKcgx0X5HDiElQ/uT3+6JMPplx0"
    "m4CLx54yd+MOW4mmayJW7N68nBicD566NF4poZU/+cF3oAAlmw+b9zudj8KhR00XtCR8dis5g4rAgEhK0NP1vlbJWkljP2ump+Ng"
    "zCX9Ox9//PSYaTUFQNgwWvatXqCgI9CiUYoKpus6K2De2EHjf3z3fy7EiZORxh0V6GXYWmCe6xWvYdm8lKiZhXaHOqOEIOwy0L0d"
    "wDVq1/SAU6+7SxgYyZ/84H//9MmTxLogcQJk7LKCUvM+rAg7GI2TR13VaY39v7z3vWeXcZWd93orVKJRBeTrCEfVpW0IPslpG5xO"
    "VbotqUIVshVJPGSOUWoKg7DT0yZHKC/gOOE/v//u+x/+0CDIgGVd+gGRVBtCwERHkEnox/P98t9++NHD9TllCt6XZRfA7pnDHrBB"
    "4mJ0GwMKCaTtONjlkE1M2dBKDTK9PeJybOAdCA9JPjMVxhEEMCSK/OCD7396u7z1wmvnu/utIKb5hXHV7EVxGNJ7H374508+W0Ai"
    "MQSLw4ErO6wAsdR77RSimy8PmxcrtXACCMrdjAmSJ5cgxV3kRFxywgp+PZkM1rRWOHCqyNoP3JbHT376/vMn26S33nyDZ42OdbtE"
    "8sf75ennhxc/GVq5Ai7I7GO2xXRHfKHGIYWoo9AIOE2czXTiKrhPuSTXOmPCxQXhXNESS7LO6WWy14BlXJ+v9Q7BLAF2rw6dBzq0"
    "H/7kMVSDiyNTTnMOzBVyP8rCLojp/RlBQyuwph1sOBiBxUOj6oIkIzPnAEFaSlAgE675sLgku00zLpO3wrFEtV7KGTG3dKW1UhyE"
    "zBvXogbDNMkW1VAqDQuWYxt1NYuVNCGZqIgWWoxrPcTDy5IxvTtTxDiwpo5CEyg6uZ904r7cZXZTbsR87Q1GACf3lgF6wDGg4kXN"
    "8gSPhCxFGWIRSJTBGbTl7qCAt1UxgrRUD+Ez0gGpCn48FMqR14A9zw2OCfsqPK0tmJXJVuB2Qy48cXJrkSMBExIObzkkkl9Svs9W"
    "OvEjweoZz3zJiNPYbOTRoCjTqjayyBq0dB6l8s0bWgkEXaJmAi0N8NzovGOLTkvhufU5lKdxm/H/AYonEjyQNswdAAAAAElFTkSu"
    "QmCC"
)
LATENT_SIZE = 20  # of the default mnist-vae and mnist-cvae (trainer/bootstrap.py)

Examples = dict[str, dict[str, Any]]

ENCODE: Examples = {
    "digit": {"summary": "Encode one digit", "value": {"images": [DIGIT_7]}},
    "cvae": {
        "summary": "Encode with the conditional VAE (labels required)",
        "value": {"model": "mnist-cvae", "images": [DIGIT_7], "labels": [7]},
    },
}
RECONSTRUCT: Examples = {
    "digit": {"summary": "Reconstruct one digit", "value": {"images": [DIGIT_7]}},
    "pinned": {
        "summary": "Pin a model and version",
        "value": {"model": "mnist-vae", "version": "production", "images": [DIGIT_7, DIGIT_7]},
    },
}
DECODE: Examples = {
    "origin": {
        "summary": "Decode the origin of the latent space",
        "value": {"codes": [[0.0] * LATENT_SIZE]},
    },
    "cvae": {
        "summary": "One code drawn as a 3 and as an 8",
        "value": {"model": "mnist-cvae", "codes": [[0.5] * LATENT_SIZE] * 2, "labels": [3, 8]},
    },
}
SCORE: Examples = {
    "digit": {"summary": "Is this a digit mnist-vae knows?", "value": {"images": [DIGIT_7]}},
    "face-to-digit-model": {
        "summary": "A face sent to the digit model: an outlier, with its error map",
        "value": {"model": "mnist-vae", "images": [SERIOUS_FACE], "heatmap": True},
    },
    "stricter": {
        "summary": "A threshold for a 5% false-positive rate",
        "value": {"images": [DIGIT_7], "fpr": 0.05},
    },
}
SAMPLE: Examples = {
    "seeded": {"summary": "Eight digits, repeatable", "value": {"count": 8, "seed": 42}},
    "cooler": {
        "summary": "Lower temperature: closer to typical digits",
        "value": {"count": 4, "seed": 1, "temperature": 0.7},
    },
}
CVAE_SAMPLE: Examples = {
    "every-class": {
        "summary": "One random vector drawn as every digit",
        "value": {"count_per_label": 1, "shared_noise": True, "seed": 0},
    },
    "some": {
        "summary": "Three independent 7s and three 1s",
        "value": {"labels": [7, "1"], "count_per_label": 3, "shared_noise": False, "seed": 5},
    },
}
EDIT_ATTRIBUTE: Examples = {
    "smile": {
        "summary": "Make a serious face smile",
        "value": {"images": [SERIOUS_FACE], "edits": [{"attribute": "Smiling", "strength": 1.0}]},
    },
    "as-object": {
        "summary": "Edits as an object of attribute: strength",
        "value": {"images": [SERIOUS_FACE], "edits": {"Smiling": 1, "Eyeglasses": -1.0}},
    },
    "several": {
        "summary": "Smile and glasses at once",
        "value": {
            "images": [SERIOUS_FACE],
            "edits": [
                {"attribute": "Smiling", "strength": 1.0},
                {"attribute": "Eyeglasses", "strength": 1.0},
            ],
        },
    },
    "plain": {
        "summary": "The write-up's plain smile vector (also opens the mouth more often)",
        "value": {
            "images": [SERIOUS_FACE],
            "edits": [{"attribute": "Smiling", "strength": 1.0}],
            "direction": "plain",
        },
    },
    "other-model": {
        "summary": "The convolutional face model",
        "value": {
            "model": "faces-ae-conv",
            "images": [SERIOUS_FACE],
            "edits": [{"attribute": "Smiling"}],
        },
    },
}
INTERPOLATE: Examples = {
    "digits": {
        "summary": "Morph a digit into itself (a still walk)",
        "value": {"start": DIGIT_7, "end": DIGIT_7, "steps": 3},
    },
    "faces": {
        "summary": "Morph a face into a face",
        "value": {"model": "faces-ae-conv", "start": SERIOUS_FACE, "end": SERIOUS_FACE, "steps": 4},
    },
}
