"""k15 studio's Gradio app (issue #4). It imports k15core and talks to runs only through the run store."""
