"""``labelsync review``: a page to review label descriptions (edit, delete, add, regenerate),
with the label pairs the descriptions confuse, a live try-a-sentence box and, given dev data, the
accuracy and the misclassified examples of the descriptions being edited."""
